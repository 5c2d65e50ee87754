"""Self-supervised panorama triplets from real 360 walks, their middle frames turned to the halfway view.

A walk is a folder of equirect frames in capture order (``real360_dev/gopro_max_garden_a`` and
the like, or a user's own). Its triplets are ``(i - g, i, i + g)`` for the gaps asked, ``t = 0.5``.
A hand-held camera's orientation at frame ``i`` is chance (0.3-4.5 degrees from the halfway
rotation in real footage, :mod:`viewsynth.evaluation.rotation`), while an interpolator renders the
halfway orientation. Trained on as it is, the middle frame would teach the network to blur by that
chance rotation; so each middle frame is turned first, by the small rotation that best maps it onto
``flow``'s prediction of the same view (``rotation.fit_rotation``, the search the benchmark's
rotation-compensated WS-PSNR uses). The loss then charges parallax, occlusion and colour, not
the camera's wobble; the benchmark's ``rc-WS-PSNR`` is the matching score. ``times`` (more than
0.5) also fits where along the path the middle shot was taken, as the rotation is fitted.

Alignment runs once per triplet when the source is built, at ``align_width`` (512: the search
works at 128-512 anyway), then the three frames are area-shrunk to the training size and kept as
uint8 (a 256x128 triplet is 288 KiB).

Leave-one-walk-out: a network trained on some walks is scored only on the others
(``TRAINING_LOG.md``); a walk's frames in training and in evaluation would score fit, not skill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewsynth import frames as frames_lib
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.rotation import fit_rotation, rotate_equirect
from viewsynth.interpolators import Flow
from viewsynth.synth import Triplet


@dataclass(frozen=True)
class Alignment:
    """The middle frame turned to the interpolator's view, the angles found (yaw, pitch, roll;
    degrees) and the in-between time it was matched at."""

    mid: np.ndarray
    angles_deg: tuple[float, float, float]
    t: float = 0.5


def align_middle(
    img0: np.ndarray, mid: np.ndarray, img1: np.ndarray, times: Sequence[float] = (0.5,)
) -> Alignment:
    """``mid`` turned by the small rotation that best maps it onto ``flow``'s prediction.

    ``fit_rotation(pred, mid)`` finds ``R`` with ``pred(R d) ~ mid(d)``; so ``mid(R^T d) ~ pred(d)``:
    the middle frame resampled at ``R^T d`` (Lanczos) looks the way the prediction does. With
    several ``times`` the prediction at each is tried and the best-matching time is kept: a
    walker's position at the middle shot is chance too (a time-fit probe, ``benchmarks/time_fit.py`` at d4ca1c7, found a real
    middle frame a fifth of the way along). Frames are ``(H, W, 3)`` float32 equirect panoramas.
    """
    preds = Flow()(img0, img1, list(times), equirect=True)
    truth = frames_lib.to_uint8(mid)
    fits = [fit_rotation(frames_lib.to_uint8(p), truth) for p in preds]
    best = int(np.argmax([f.rc_ws_psnr for f in fits]))
    fit, t = fits[best], float(times[best])
    if fit.angles_deg == (0.0, 0.0, 0.0):
        return Alignment(mid, fit.angles_deg, t)
    turned = rotate_equirect(mid, fit.rotation.T, sharp=True)
    return Alignment(np.clip(turned, 0.0, 1.0).astype(np.float32), fit.angles_deg, t)


def walk_frames(folder: Path) -> list[Path]:
    """The walk's image files in capture (natural name) order; a one-line error when there are none."""
    if not folder.is_dir():
        raise ViewsynthError(f"{folder}: no such folder of 360 frames (data.real360_walks)")
    paths = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in frames_lib.IMAGE_SUFFIXES),
        key=frames_lib.natural_key,
    )
    if len(paths) < 3:
        raise ViewsynthError(
            f"{folder}: {len(paths)} image files, a walk needs at least 3 for a triplet"
        )
    return paths


def _read(path: Path, width: int, align_width: int) -> np.ndarray:
    """The frame at ``align_width`` (never enlarged beyond its own size, nor below ``width``)."""
    image = frames_lib.read_image(path).image
    h, w = image.shape[:2]
    if not frames_lib.is_equirect_shape(w, h):
        raise ViewsynthError(f"{path}: {w}x{h} is not a 2:1 equirect panorama (data.real360_walks)")
    size = max(width, min(align_width, w))
    return frames_lib.resize(image, size, size // 2)


class Real360Triplets:
    """Aligned training triplets of real 360 walks at ``width`` x ``width / 2`` (uint8 kept).

    ``walks`` are folders (absolute, or relative to ``root``); ``angles`` and ``times`` keep each
    triplet's alignment (degrees) and its time: 0.5, or with several ``times`` the one whose
    ``flow`` prediction matched the middle frame best (the triplet is trained at that t).
    """

    def __init__(
        self,
        walks: Sequence[str | Path],
        *,
        root: Path,
        gaps: Sequence[int] = (1, 2),
        width: int = 256,
        align_width: int = 512,
        times: Sequence[float] = (0.5,),
    ):
        if not walks:
            raise ViewsynthError("data.real360_walks: no walks named")
        self.names: list[str] = []
        self.triplets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.angles: list[tuple[float, float, float]] = []
        self.times: list[float] = []
        height = width // 2
        for walk in walks:
            folder = Path(walk) if Path(walk).is_absolute() else root / walk
            paths = walk_frames(folder)
            self.names.append(folder.name)
            frames = [_read(p, width, align_width) for p in paths]
            for g in gaps:
                for i in range(g, len(frames) - g):
                    a, m, b = frames[i - g], frames[i], frames[i + g]
                    aligned = align_middle(a, m, b, times)
                    self.angles.append(aligned.angles_deg)
                    self.times.append(aligned.t)
                    self.triplets.append(
                        tuple(
                            frames_lib.to_uint8(frames_lib.resize(f, width, height))
                            for f in (a, aligned.mid, b)
                        )
                    )
        if not self.triplets:
            raise ViewsynthError(
                f"data.real360_walks: no middle frame has neighbours at gaps {list(gaps)}"
            )

    def __len__(self) -> int:
        return len(self.triplets)

    def triplet(self, index: int) -> Triplet:
        index %= len(self.triplets)
        f = [frames_lib.from_uint8(x) for x in self.triplets[index]]
        return Triplet(f[0], f[1], f[2], self.times[index], True)

    def sample(self, rng: np.random.Generator) -> Triplet:
        return self.triplet(int(rng.integers(len(self.triplets))))
