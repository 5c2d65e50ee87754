"""The benchmark's sets as a config names them, and the street sets built on ``datasets``.

``DatasetConfig`` is one entry of a benchmark config's ``datasets``; ``from_config`` opens it. Besides
the layouts of ``datasets.open_dataset`` and the generated panoramas, it knows three street sets:

- video triplets at a working width: a path with ``gap`` and ``width`` (e.g. a dash-cam MP4, frames
  ``i - g, i, i + g``, every frame brought to 1024 wide, the truth too);
- a walk sampled by GPS distance (``metres`` > 0, a video with GPS telemetry such as a GoPro's
  GPMF track): inputs about ``metres`` apart along the track, the truth the frame nearest the
  middle of their distances (``distance_triplets``), t = 0.5;
- perspective renders (``kind: perspective_render``): held-out street views with exact middles,
  made as ``training.validation`` makes its perspective set, from other held-out seeds
  (``synth.BENCHMARK_PERSPECTIVE_SEED``: no checkpoint was chosen on them).

Every set is ``(H, W, 3)`` float32 inputs in [0, 1] and a uint8 truth (``datasets.Sample``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from viewsynth import synth
from viewsynth.capture import load_capture, pair_hfov
from viewsynth.capture.heading import haversine
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.datasets import (
    AS_STORED,
    Dataset,
    DatasetUnavailable,
    Sample,
    open_dataset,
    render_set,
    stored_frames,
    synthetic_set,
)
from viewsynth.frames import VIDEO_SUFFIXES, to_uint8


def distance_triplets(
    along: Sequence[float], metres: float, stride: float = 0.0
) -> list[tuple[int, int, int]]:
    """``(i0, i, i1)`` frame triplets of a walk by distance along its track.

    ``along`` ``(N,)``: metres from the start, non-decreasing. ``i0`` is the first frame at or past
    each multiple of ``stride`` metres (default ``metres``: the pairs do not overlap), ``i1`` the
    first frame at least ``metres`` past ``i0``, ``i`` the frame between them nearest the middle of
    their distances. A pair with no frame between them gives no triplet.
    """
    if metres <= 0.0 or stride < 0.0:
        raise ViewsynthError(f"metres must be > 0 and stride >= 0, got {metres} and {stride}")
    along = np.asarray(along, dtype=np.float64)
    if np.any(np.diff(along) < 0):
        raise ViewsynthError("distance_triplets: distances along the track must not decrease")
    stride = stride or metres
    out: list[tuple[int, int, int]] = []
    mark = float(along[0]) if len(along) else 0.0
    while True:
        i0 = int(np.searchsorted(along, mark - 1e-9))
        i1 = int(np.searchsorted(along, along[i0] + metres - 1e-9)) if i0 < len(along) else 0
        if i0 >= len(along) or i1 >= len(along):
            return out
        middle = (along[i0] + along[i1]) / 2.0
        i = i0 + int(np.argmin(np.abs(along[i0 : i1 + 1] - middle)))
        if i0 < i < i1:
            out.append((i0, i, i1))
        mark += stride


def gps_walk(path: str | Path, metres: float, stride: float = 0.0, width: int = 0) -> Dataset:
    """Leave-one-out by GPS distance on a video with GPS telemetry (see ``distance_triplets``).

    Frames without a position are left out; ``width`` > 0 resizes every frame (the truth too).
    """
    source = Path(path)
    if not source.is_file() or source.suffix.lower() not in VIDEO_SUFFIXES:
        raise ViewsynthError(f"{source}: a walk by GPS distance needs a video file")
    capture = load_capture(source, replace(AS_STORED, use_gps=True))
    shots = [shot for shot in capture.shots if shot.has_position]
    if len(shots) < 3:
        raise ViewsynthError(
            f"{source}: a walk by GPS distance needs a GPS track (GoPro GPMF, CAMM or BlackVue "
            f"telemetry); {len(shots)} frames have a position"
        )
    steps = [haversine(a.lat, a.lon, b.lat, b.lon) for a, b in zip(shots, shots[1:], strict=False)]
    along = np.concatenate([[0.0], np.cumsum(steps)])
    triplets = distance_triplets(along, metres, stride)

    def make() -> Iterator[Sample]:
        for i0, i, i1 in triplets:
            trio = [shots[i0], shots[i], shots[i1]]
            img0, gt, img1 = (image for _, image in stored_frames(capture, trio, width))
            name = f"frame{shots[i].frame_index:05d}"
            hfov = pair_hfov(trio[0], trio[2])
            yield Sample(name, img0, img1, to_uint8(gt), 0.5, False, hfov)

    w, h = shots[0].size
    size = (width, max(1, round(h * width / w))) if width else (w, h)
    name = f"{source.name} {metres:g} m"
    return Dataset(name, "gps-walk", str(source), False, len(triplets), make, size=size)


def perspective_render_set(count: int, width: int, height: int, seed: int | None = None) -> Dataset:
    """Held-out perspective street views (``synth.street_triplet``), rendered once on first use.

    Seeds ``seed .. seed + count - 1`` (default ``synth.BENCHMARK_PERSPECTIVE_SEED``), their
    textures from ``seed``, drawn as ``training.validation`` draws its perspective set; t is 0.5 for most, 0.25 or 0.75
    for some (as ``synth.heldout_panoramas``), times every method can be asked for.
    """
    first = synth.BENCHMARK_PERSPECTIVE_SEED if seed is None else seed
    if first < synth.HELDOUT_SEED:
        raise ViewsynthError(f"perspective renders: seed {first} is a training seed")
    cache: list[Sample] = []

    def make() -> Iterator[Sample]:
        if not cache:
            textures = synth.make_textures(first)
            for k in range(count):
                rng = np.random.default_rng([first + k, 3])
                t = float(rng.choice([0.25, 0.5, 0.5, 0.75]))
                tr = synth.street_triplet(
                    first + k, textures, width=width, height=height, equirect=False, t=t
                )
                img0, mid, img1 = (np.asarray(x, np.float32) for x in (tr.img0, tr.mid, tr.img1))
                sample = Sample(f"render{k:03d}", img0, img1, to_uint8(mid), tr.t, False, tr.hfov)
                cache.append(sample)
        yield from cache

    label = f"perspective render {width}x{height}"
    source = f"viewsynth.synth.street_triplet seed {first}"
    return Dataset(label, "render", source, False, count, make, size=(width, height))


@dataclass(frozen=True)
class DatasetConfig:
    """One set of the benchmark suite."""

    # Label in the report; empty: the folder's name.
    name: str = ""
    # "path": a folder or video, its layout detected; "render": the synth wing's held-out street
    # panoramas; "perspective_render": its held-out perspective street views; "synthetic": the
    # procedural moving-texture set.
    kind: Literal["path", "render", "perspective_render", "synthetic"] = "path"
    # Folder or video for kind "path"; relative paths are relative to the config file.
    path: str = ""
    # Generated sets: how many triplets, their size and the seed.
    count: int = 8
    width: int = 1024
    height: int = 512
    # null: the benchmark's held-out seeds (renders; synth.BENCHMARK_SEED and
    # BENCHMARK_PERSPECTIVE_SEED, not the training validation's), 0 (synthetic).
    seed: int | None = None
    # Leave-one-out: predict every k-th eligible frame; "odd"/"even" restrict i (counted from 0).
    every: int = 1
    parity: Literal["all", "odd", "even"] = "all"
    # Leave-one-out: predict frame i from i - gap and i + gap (1: the neighbours).
    gap: int = 1
    # Leave-one-out and GPS walks: bring every frame (the truth too) to this width, aspect kept
    # (0: as stored).
    resize_width: int = 0
    # > 0: a video's walk by GPS distance, inputs this many metres apart (see gps_walk) ...
    metres: float = 0.0
    # ... a pair starting every this many metres (0: every ``metres``).
    stride_metres: float = 0.0
    # Also run the set with panoramas rolled by half a width (seam through the content).
    rolled: bool = False
    # At most this many samples (0: all), to fit a time budget.
    limit: int = 0
    # Real walks: also score at these times and keep the best (trc-WS-PSNR, see ``evaluate``).
    fit_times: tuple[float, ...] = ()

    def __post_init__(self):
        if self.count < 1 or min(self.width, self.height) < 16:
            raise ValueError(f"{self.name}: count >= 1 and width, height >= 16")
        if self.every < 1 or self.gap < 1 or self.limit < 0:
            raise ValueError(f"{self.name}: every and gap must be >= 1, limit >= 0")
        if self.resize_width < 0 or self.metres < 0 or self.stride_metres < 0:
            raise ValueError(f"{self.name}: resize_width, metres and stride_metres must be >= 0")


def from_config(cfg: DatasetConfig, base_dir: str | Path = ".") -> Dataset:
    """The ``Dataset`` a config entry names; ``DatasetUnavailable`` when its data is absent."""
    if cfg.kind == "render":
        dataset = render_set(cfg.count, cfg.width, cfg.height, cfg.seed)
    elif cfg.kind == "perspective_render":
        dataset = perspective_render_set(cfg.count, cfg.width, cfg.height, cfg.seed)
    elif cfg.kind == "synthetic":
        dataset = synthetic_set(cfg.count, cfg.width, cfg.height, cfg.seed or 0)
    else:
        if not cfg.path:
            raise ViewsynthError(f"dataset {cfg.name!r}: kind 'path' needs a path")
        path = Path(cfg.path)
        if not path.is_absolute():
            path = Path(base_dir) / path
        if not path.exists():
            raise DatasetUnavailable(f"{path}: no such file or folder")
        if cfg.metres > 0.0:
            dataset = gps_walk(path, cfg.metres, cfg.stride_metres, cfg.resize_width)
        else:
            dataset = open_dataset(path, cfg.every, cfg.parity, cfg.gap, cfg.resize_width)
    dataset.limit = cfg.limit
    if not all(0.0 < t < 1.0 for t in cfg.fit_times):
        raise ViewsynthError(f"dataset {cfg.name!r}: fit_times must lie in (0, 1)")
    dataset.fit_times = tuple(cfg.fit_times)
    if cfg.limit and dataset.count is not None:
        dataset.count = min(dataset.count, cfg.limit)
    if cfg.name:
        dataset.name = cfg.name
    return dataset
