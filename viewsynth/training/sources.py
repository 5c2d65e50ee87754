"""Where training triplets come from, and how they become batches.

Sources (each yields :class:`~viewsynth.synth.Triplet` s, ``(H, W, 3)`` float32 in [0, 1]):

- rendered streets (:mod:`viewsynth.synth`): panoramas and perspective views with exact
  in-between frames; textures mix procedural patterns with crops of licensed photos;
- flying layers: textured shapes moving over a textured background (general object motion);
- real video: frames ``(i - g, i, i + g)`` of any video file or frame folder, ``t = 0.5``, cropped;
- crops of the panoramas (ordinary images with the panorama's motion);
- real 360 walks (:mod:`viewsynth.training.real360`): triplets of real panoramas, the middle
  frame turned to the halfway orientation.

:class:`TrainingData` mixes them into batches that depend only on ``(seed, step)``, so a resumed run
sees exactly the data it would have seen. Training seeds stay below ``synth.HELDOUT_SEED``.
Licensed training photos live in the shared data folder (``berlin/images``, frames of
``udacity_driving/solidWhiteRight.mp4``); without it everything is procedural.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from viewsynth import frames as frames_lib
from viewsynth import synth
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.evaluation.vimeo import VimeoTriplets
from viewsynth.synth import Triplet
from viewsynth.training import augment as augment_lib
from viewsynth.training.batch import Batch, stack_batch
from viewsynth.training.prefetch import Memo
from viewsynth.training.real360 import Real360Triplets

#: Photo folders and videos allowed as training textures/triplets (never Lund, Middlebury, UCF101).
TRAINING_PHOTOS = ("berlin/images",)
TRAINING_VIDEOS = ("udacity_driving/solidWhiteRight.mp4",)
#: Frames dropped between a video's training part and its held-out tail (``video_holdout``), so
#: that no training triplet shares a frame, or a near-copy of one, with a validation triplet.
VIDEO_GUARD = 3


def default_data_root() -> Path:
    """``<repo>/../shared/data``: where the shared data sits next to a checkout."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _fit(image: np.ndarray, max_side: int | None) -> np.ndarray:
    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    return frames_lib.resize(image, max(1, round(w * scale)), max(1, round(h * scale)))


def read_video(
    path: str | Path, *, every: int = 1, max_side: int | None = None
) -> Iterator[np.ndarray]:
    """Frames ``(H, W, 3)`` float32 of a video file, every ``every``-th, shrunk to ``max_side``."""
    for i, frame in frames_lib.iter_video(path):
        if i % every == 0:
            yield _fit(frames_lib.from_uint8(frame), max_side)


def read_frames(path: str | Path, *, max_side: int | None = None) -> list[np.ndarray]:
    """All frames of a video file, or the images of a folder in natural order (``img2`` before
    ``img10``): list of ``(H, W, 3)`` float32."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in frames_lib.VIDEO_SUFFIXES:
        return list(read_video(path, max_side=max_side))
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.suffix.lower() in frames_lib.IMAGE_SUFFIXES),
            key=frames_lib.natural_key,
        )
        if not files:
            raise FrameError(
                f"{path}: no images ({', '.join(frames_lib.IMAGE_SUFFIXES)}) in folder"
            )
        return [_fit(frames_lib.read_image(p).image, max_side) for p in files]
    raise FrameError(f"{path}: not a video file or a folder of images")


def training_video(root: Path, name: str) -> Path | None:
    """The training video ``root/name``, or its frames extracted to the folder ``root/<name stem>``.

    The folder form lets a machine without an ffmpeg binary (a lent GPU) read the same frames.
    """
    path = root / name
    if path.is_file():
        return path
    folder = path.with_suffix("")
    return folder if folder.is_dir() else None


def texture_photos(data_root: str | Path | None = None, *, max_side: int = 768) -> list[np.ndarray]:
    """Licensed photos for textures: the berlin images and every 20th udacity frame, if present."""
    root = Path(data_root) if data_root is not None else default_data_root()
    photos: list[np.ndarray] = []
    for folder in TRAINING_PHOTOS:
        if (root / folder).is_dir():
            photos += read_frames(root / folder, max_side=max_side)
    for name in TRAINING_VIDEOS:
        video = training_video(root, name)
        if video is None:
            continue
        if video.is_file():
            photos += list(read_video(video, every=20, max_side=max_side))
        else:
            photos += read_frames(video, max_side=max_side)[::20]
    return photos


class FrameTriplets:
    """Triplets ``(i - g, i, i + g)``, ``t = 0.5``, from a sequence of frames of one size.

    ``frames`` are ``(H, W, 3)`` arrays (kept as uint8 to save memory); ``gaps`` the frame steps
    to draw from. ``targets`` restricts the middle index ``i`` (for the Lund protocol: even or odd).
    """

    def __init__(
        self,
        frames: Sequence[np.ndarray],
        *,
        gaps: Sequence[int] = (1,),
        targets: Sequence[int] | None = None,
        equirect: bool = False,
        name: str = "frames",
    ):
        if len(frames) < 3:
            raise ViewsynthError(f"{name}: need at least 3 frames for triplets, got {len(frames)}")
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            raise ViewsynthError(f"{name}: frames differ in size ({sorted(shapes)[:2]})")
        self.frames = [frames_lib.to_uint8(f) if f.dtype != np.uint8 else f for f in frames]
        self.equirect = equirect
        n = len(self.frames)
        allowed = range(n) if targets is None else targets
        self.choices = [(i, g) for g in gaps for i in allowed if i - g >= 0 and i + g < n]
        if not self.choices:
            raise ViewsynthError(f"{name}: no middle frame has neighbours at gaps {list(gaps)}")

    def __len__(self) -> int:
        return len(self.choices)

    def triplet(self, index: int) -> Triplet:
        i, g = self.choices[index % len(self.choices)]
        f = [frames_lib.from_uint8(self.frames[j]) for j in (i - g, i, i + g)]
        return Triplet(f[0], f[1], f[2], 0.5, self.equirect)

    def sample(self, rng: np.random.Generator) -> Triplet:
        return self.triplet(int(rng.integers(len(self.choices))))


# ----------------------------------------------------------------------------------------------
# Batches


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """What goes into a training batch."""

    # Samples per batch (a multiple of the number of devices).
    batch_size: int = 4
    # Panorama size of rendered streets (2:1, multiples of the model stride).
    pano_width: int = 256
    pano_height: int = 128
    # Perspective training crops are crop x crop.
    crop: int = 128
    # Fraction of batches that are whole panoramas (the rest are perspective crops).
    pano_fraction: float = 0.5
    # Rendered panoramas: the shots' spacing range (metres) and the per-shot camera pitch and roll
    # (degrees, standard deviation; 0: level, as the held-out renders), see ``synth.street_triplet``.
    spacing: tuple[float, float] = (0.5, 4.0)
    tilt_deg: float = 0.0
    # Mixture of perspective samples: rendered street views, flying layers, real video, panorama crops.
    mix_street: float = 0.4
    mix_layers: float = 0.2
    mix_video: float = 0.3
    mix_pano_crop: float = 0.1
    # A geometry model's perspective rows get the pinhole sweep's candidate (the photos network,
    # ``photos.msgpack``); false: the DIS candidate twice (the default geometry network).
    pinhole_sweep: bool = False
    # Consecutive steps sharing their rendered scenes (each augments them anew).
    reuse: int = 1
    # Rendering: anti-aliasing rays per pixel side; texture atlas tiles, size, refresh interval.
    supersample: int = 2
    textures: int = 24
    texture_size: int = 128
    texture_every: int = 100
    # Fraction of texture tiles cut from licensed photos (when the shared data is present).
    photo_fraction: float = 0.5
    # Shared data folder (berlin photos, udacity video); empty: next to the checkout.
    data_root: str = ""
    # Real video frames are shrunk so their longer side is at most this.
    video_max_side: int = 480
    # Frame steps of real-video triplets (i - g, i, i + g).
    video_gaps: tuple[int, ...] = (1, 2, 3)
    # The last this-many frames of the training video are never trained on (``validation.video``
    # scores the model on them), nor are the VIDEO_GUARD frames before them.
    video_holdout: int = 0
    # Real 360 walks (folders of equirect frames in capture order, relative to the shared data
    # folder or absolute; :mod:`viewsynth.training.real360`): each panorama in a batch is one of
    # their triplets with probability ``mix_real360``, its middle frame turned to the halfway view.
    # Leave-one-walk-out: never score a network on a walk it was trained on.
    real360_walks: tuple[str, ...] = ()
    real360_gaps: tuple[int, ...] = (1, 2)
    mix_real360: float = 0.0
    # In-between times tried for each real triplet; the best-matching one is its t (one: fixed).
    real360_times: tuple[float, ...] = (0.5,)
    # Vimeo-90K triplets (its root, whose tri_trainlist.txt is read, or a list file;
    # :mod:`viewsynth.evaluation.vimeo`): a perspective row's share, beside mix_street and the rest.
    vimeo: str = ""
    mix_vimeo: float = 0.0
    augment: augment_lib.AugmentConfig = dataclasses.field(
        default_factory=augment_lib.AugmentConfig
    )

    def __post_init__(self):
        if self.pano_width != 2 * self.pano_height:
            raise ValueError(
                f"pano_width must be 2 * pano_height, got {self.pano_width}x{self.pano_height}"
            )
        if self.batch_size < 1 or self.crop < 8:
            raise ValueError("batch_size must be >= 1 and crop >= 8")
        if self.mix_pano_crop > 0 and self.crop > self.pano_height:
            raise ValueError(
                f"crop {self.crop} is taller than the panoramas ({self.pano_height}): set mix_pano_crop 0"
            )
        if not 0.0 <= self.pano_fraction <= 1.0:
            raise ValueError(f"pano_fraction must be in [0, 1], got {self.pano_fraction}")
        if self.video_holdout < 0:
            raise ValueError(f"video_holdout must be >= 0, got {self.video_holdout}")
        if not 0.0 <= self.mix_real360 <= 1.0 or (self.mix_real360 > 0 and not self.real360_walks):
            raise ValueError(f"mix_real360 must be in [0, 1] and needs data.real360_walks, got "
                             f"{self.mix_real360} with {list(self.real360_walks)}")  # fmt: skip
        if self.mix_vimeo < 0 or (self.mix_vimeo > 0) != bool(self.vimeo):
            raise ValueError(f"mix_vimeo > 0 and data.vimeo go together, got {self.mix_vimeo} "
                             f"and {self.vimeo!r}")  # fmt: skip
        if not 0.0 < self.spacing[0] <= self.spacing[1] or self.tilt_deg < 0:
            raise ValueError(f"spacing must be 0 < low <= high and tilt_deg >= 0, got "
                             f"{list(self.spacing)} and {self.tilt_deg}")  # fmt: skip


class TrainingData:
    """Deterministic batches from ``(seed, step)`` mixing all training sources.

    Photos and video frames are loaded once; the texture atlas is rebuilt every
    ``texture_every`` steps from a seed derived from the step. With ``classical_init`` every
    batch carries the classical DIS estimate (computed here, in NumPy).
    """

    def __init__(
        self,
        cfg: DataConfig,
        seed: int,
        *,
        classical_init: bool = True,
        in_flight: int = 1,
        geometry: bool = False,
    ):
        self.cfg = cfg
        self.seed = seed
        self.classical_init = classical_init
        self.geometry = geometry
        root = Path(cfg.data_root) if cfg.data_root else default_data_root()
        self.photos = texture_photos(root) if cfg.photo_fraction > 0 else []
        self.video: FrameTriplets | None = None
        # The held-out tail of the training video (never in a batch), for validation.
        self.video_heldout: list[np.ndarray] = []
        if cfg.mix_video > 0 or cfg.video_holdout > 0:
            for name in TRAINING_VIDEOS:
                video = training_video(root, name)
                if video is not None:
                    frames = read_frames(video, max_side=cfg.video_max_side)
                    if cfg.video_holdout > 0:
                        cut = len(frames) - cfg.video_holdout
                        if cut - VIDEO_GUARD < 3:
                            raise ViewsynthError(
                                f"{video}: {len(frames)} frames leave none to train on after "
                                f"holding out {cfg.video_holdout} (data.video_holdout)"
                            )
                        self.video_heldout = frames[cut:]
                        frames = frames[: cut - VIDEO_GUARD]
                    if cfg.mix_video > 0:
                        self.video = FrameTriplets(frames, gaps=cfg.video_gaps, name=str(video))
        self.real360: Real360Triplets | None = None
        if cfg.mix_real360 > 0:
            self.real360 = Real360Triplets(
                cfg.real360_walks,
                root=root,
                gaps=cfg.real360_gaps,
                width=cfg.pano_width,
                times=cfg.real360_times,
            )
        self.vimeo = VimeoTriplets(cfg.vimeo) if cfg.mix_vimeo > 0 else None
        # Safe for threads calling batch() on up to ``in_flight`` nearby steps at once.
        self._textures = Memo(keep=2)
        self._groups = Memo(keep=max(1, in_flight) + 2)

    @property
    def sources(self) -> list[str]:
        """Names of the sources actually in use (the shared data may be absent)."""
        out = ["street panoramas", "street perspective", "flying layers", "panorama crops"]
        if self.video is not None:
            out.append("udacity video triplets")
        if self.real360 is not None:
            names = ", ".join(self.real360.names)
            out.append(f"real 360 walks ({len(self.real360)} triplets: {names})")
        if self.vimeo is not None:
            out.append(f"Vimeo-90K ({len(self.vimeo)} triplets: {self.vimeo.name})")
        if self.photos:
            out.append(f"photo textures ({len(self.photos)} photos)")
        return out

    def textures(self, step: int) -> synth.Textures:
        epoch = step // max(1, self.cfg.texture_every)
        return self._textures.get(
            epoch,
            lambda: synth.make_textures(
                (self.seed * 7919 + epoch) % synth.HELDOUT_SEED,
                count=self.cfg.textures,
                size=self.cfg.texture_size,
                photos=self.photos,
                photo_fraction=self.cfg.photo_fraction,
            ),
        )

    def _sample_seed(self, group: int, index: int) -> int:
        return (self.seed * 1_000_003 + group * self.cfg.batch_size + index) % synth.HELDOUT_SEED

    def is_pano_step(self, step: int) -> bool:
        """Whether batch ``step`` holds whole panoramas (else perspective crops)."""
        group = step // max(1, self.cfg.reuse)
        return bool(np.random.default_rng([self.seed, group, 1]).random() < self.cfg.pano_fraction)

    def _raw(self, group: int, index: int, pano: bool, textures: synth.Textures) -> Triplet:
        """The un-augmented triplet ``index`` of step group ``group`` (rendered or read)."""
        cfg = self.cfg
        seed = self._sample_seed(group, index)
        rng = np.random.default_rng([self.seed, group, index, 3])
        weights = np.array(
            [
                cfg.mix_street,
                cfg.mix_layers,
                cfg.mix_video if self.video else 0.0,
                cfg.mix_pano_crop,
                cfg.mix_vimeo,  # (last: the other kinds' draws stay as they were)
            ]
        )
        if weights.sum() <= 0:
            weights = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
        kind = 5 if pano else int(rng.choice(5, p=weights / weights.sum()))
        size = cfg.crop
        ss = cfg.supersample
        if kind == 0:
            return synth.street_triplet(
                seed, textures, width=size, height=size, equirect=False, supersample=ss
            )
        if kind == 1:
            return synth.flying_triplet(seed, textures, width=size, height=size, supersample=ss)
        if kind == 2:
            return self.video.sample(rng)
        if kind == 4:
            return self.vimeo.sample(rng)
        if self.real360 is not None and rng.random() < cfg.mix_real360:
            return self.real360.sample(rng)
        return synth.street_triplet(
            seed,
            textures,
            width=cfg.pano_width,
            height=cfg.pano_height,
            equirect=True,
            supersample=ss,
            spacing=tuple(cfg.spacing),
            tilt_deg=cfg.tilt_deg,
        )

    def triplets(self, step: int) -> list[Triplet]:
        """The augmented triplets of batch ``step`` (all panoramas or all perspective crops).

        With ``reuse`` r, the r consecutive steps of a group share their scenes (rendering is the
        costly part) but each augments them differently (roll, flips, reversal, crop, photometry).
        """
        cfg = self.cfg
        group = step // max(1, cfg.reuse)
        pano = self.is_pano_step(step)

        def render_group() -> list[Triplet]:
            textures = self.textures(group * max(1, cfg.reuse))
            return [self._raw(group, i, pano, textures) for i in range(cfg.batch_size)]

        out = []
        for i, tr in enumerate(self._groups.get(group, render_group)):
            rng = np.random.default_rng([self.seed, step, i, 2])
            if not pano:
                if tr.equirect:  # a panorama cut to an ordinary image: the seam may fall anywhere
                    tr = augment_lib.yaw_roll(tr, int(rng.integers(tr.img0.shape[1])))
                tr = augment_lib.random_crop(rng, tr, cfg.crop, cfg.crop)
            out.append(augment_lib.augment(rng, tr, cfg.augment))
        return out

    def batch(self, step: int) -> Batch:
        """Batch ``step``: a pure function of the seed and the step."""
        return stack_batch(
            self.triplets(step), classical_init=self.classical_init, geometry=self.geometry,
            pinhole=self.cfg.pinhole_sweep,
        )  # fmt: skip
