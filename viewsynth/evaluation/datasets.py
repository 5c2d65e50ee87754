"""Evaluation sets: where ``(img0, gt, img1, t)`` triplets come from.

A ``Dataset`` yields ``Sample``s lazily, one at a time, so a set of any length runs in memory
bounded by a few frames. Inputs are ``(H, W, 3)`` float32 RGB in [0, 1]; the ground truth is kept
as the uint8 image it was stored as, since metrics are computed on uint8.

Layouts ``open_dataset`` recognises in a path:
- Middlebury: ``input/<seq>/frame10.png``, ``input/<seq>/frame11.png``, ``gt/<seq>/frame10i11.png``.
- triplet folders: ``<id>/frame0.png``, ``<id>/frame1.png`` (the middle), ``<id>/frame2.png``, or
  ``<id>/im1.png, im2.png, im3.png``; JPEG (``.jpg``) as well as PNG. Vimeo-90K's root with its
  list files, or one list: :mod:`viewsynth.evaluation.vimeo`.
- leave-one-out: any folder of images (a capture, a frame folder) or a video file, read through
  ``viewsynth.capture``: frame ``i`` is predicted from ``i - 1`` and ``i + 1``. Frames are taken in
  natural file-name order (``2`` before ``10``), never re-ordered by their clocks, re-oriented or
  resized: the ground truth is scored as it was stored. ``i`` counts from 0, so ``parity="odd"``
  predicts frames 1, 3, 5, ... from even ones; ``every=k`` then keeps every k-th of those.
  ``gap=g`` predicts frame ``i`` from ``i - g`` and ``i + g`` instead (wider baselines; the frames
  between are left out of that triplet).
Generated: ``render_set`` (held-out street panoramas), ``synthetic_set`` (moving textures, exact
middles); the benchmark's sets and the street sets built on these are in ``sets``. ``rolled``
shifts panoramas (inputs and truth) by half a width: the seam cuts through the view's centre.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from viewsynth import synth
from viewsynth.capture import Capture, CaptureOptions, Shot, iter_frames, load_capture, pair_hfov
from viewsynth.capture.projection import decide_images
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.evaluation import vimeo
from viewsynth.frames import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    is_equirect_shape,
    natural_key,
    read_image,
    to_uint8,
)
from viewsynth.geometry.pose import DEFAULT_HFOV_DEG

Parity = Literal["all", "odd", "even"]


class DatasetUnavailable(ViewsynthError):
    """A set cannot be produced here (data or module absent); callers may skip it with a note."""


@dataclass
class Sample:
    """One evaluation triplet: predict ``gt`` at time ``t`` between ``img0`` and ``img1``."""

    name: str
    img0: np.ndarray  # (H, W, 3) float32 RGB in [0, 1]
    img1: np.ndarray  # (H, W, 3) float32 RGB in [0, 1]
    gt: np.ndarray  # (H, W, 3) uint8 RGB
    t: float
    equirect: bool
    # perspective frames' horizontal field of view in degrees where the data say it (EXIF, GPMF,
    # the renderer), passed to every method as ``hfov`` as a job passes it; None: unknown
    hfov: float | None = None


@dataclass
class Dataset:
    """A named, re-iterable source of ``Sample``s. ``count`` is ``None`` where unknown (video)."""

    name: str
    kind: str
    source: str
    equirect: bool
    count: int | None
    make_samples: Callable[[], Iterator[Sample]]
    rolled: bool = False
    notes: list[str] = field(default_factory=list)
    limit: int = 0
    fit_times: tuple[float, ...] = ()  # see sets.DatasetConfig.fit_times
    size: tuple[int, int] | None = None  # (width, height) of its frames where known (progress)
    hfov: float = 0.0  # degrees, of photos whose data say none (--hfov, capture.hfov); 0: unknown

    def samples(self) -> Iterator[Sample]:
        """The samples, in a fixed order; rolled by half a width when ``self.rolled``."""
        for i, sample in enumerate(self.make_samples()):
            if self.limit and i >= self.limit:
                return
            if not sample.equirect and sample.hfov is None and self.kind != "synthetic":
                sample = replace(sample, hfov=self.hfov or None)  # (generated: no camera)
                said = (
                    f"frames without a focal length: asked with --hfov {self.hfov:g}"
                    if self.hfov
                    else f"frames without a focal length: asked with the {DEFAULT_HFOV_DEG:g}-degree "
                    "default field of view (evaluate --hfov DEG: the camera's)"
                )
                self.notes.extend([] if said in self.notes else [said])
            yield roll_sample(sample) if self.rolled else sample


def roll_sample(sample: Sample) -> Sample:
    """``sample`` with inputs and ground truth rolled by ``W // 2`` columns (panoramas only)."""
    shift = sample.img0.shape[1] // 2
    return replace(
        sample,
        img0=np.roll(sample.img0, shift, axis=1),
        img1=np.roll(sample.img1, shift, axis=1),
        gt=np.roll(sample.gt, shift, axis=1),
    )


def rolled(dataset: Dataset) -> Dataset:
    """The same set with the seam through the content; raises for sets that are not panoramas."""
    if not dataset.equirect:
        raise ViewsynthError(f"{dataset.source}: --rolled applies to 2:1 panoramas only")
    return replace(dataset, name=f"{dataset.name} (rolled)", rolled=True, notes=[])


def _read(path: Path) -> np.ndarray:
    return read_image(path).image


def _panoramas(paths: Sequence[Path], images: Sequence[np.ndarray], projection: str, notes):
    """Whether a set's frames are 360 panoramas, decided as a job decides from its first frames
    (``capture.projection``: 2:1 frames by their tags, else by whether their left and right edges
    meet; ``projection`` 'equirect' or 'perspective' overrides): a 2:1 crop of ordinary video
    taken by its shape alone was warped across its edges and scored with WS-PSNR. The decision's
    warning, if any, goes to ``notes``."""
    decision = decide_images(paths, images, projection)[0]  # (a video: by content alone)
    notes.extend([decision.warning] if decision.warning else [])
    return decision.projection == "equirect"


def _check_sizes(paths: tuple[Path, ...], images: tuple[np.ndarray, ...]) -> None:
    shapes = {img.shape for img in images}
    if len(shapes) > 1:
        sizes = ", ".join(
            f"{p.name} {im.shape[1]}x{im.shape[0]}" for p, im in zip(paths, images, strict=True)
        )
        raise FrameError(f"{paths[0].parent}: frames of one triplet differ in size ({sizes})")


def _triplet(name: str, p0: Path, pgt: Path, p1: Path, equirect: bool) -> Sample:
    img0, gt, img1 = _read(p0), _read(pgt), _read(p1)
    _check_sizes((p0, pgt, p1), (img0, gt, img1))
    return Sample(name, img0, img1, to_uint8(gt), 0.5, equirect)


def middlebury(path: str | Path, projection: str = "auto") -> Dataset:
    """The Middlebury layout at ``path``: sequences with ``input/`` frames and a ``gt/`` middle."""
    root = Path(path)
    tops = [root / "gt", root / "input"]
    named = sorted({d.name for top in tops for d in top.iterdir() if d.is_dir()}, key=natural_key)
    wanted = ("input/{}/frame10.png", "gt/{}/frame10i11.png", "input/{}/frame11.png")
    missing = {
        s: [w.format(s) for w in wanted if not (root / w.format(s)).is_file()] for s in named
    }
    seqs = [s for s in named if not missing[s]]  # the others said: a set one sequence short
    notes = [f"skipped {s}: no {', '.join(missing[s])}" for s in named if missing[s]]
    if not seqs:
        raise ViewsynthError(
            f"{root}: no sequence has input/<seq>/frame10.png and gt/<seq>/frame10i11.png"
        )
    found = [(s, [root / w.format(s) for w in wanted]) for s in seqs]
    return _triplet_set(root, root.name, "middlebury", found, notes, projection)


#: A triplet folder's frames, the middle second: ours and Vimeo-90K's names, each PNG or JPEG.
TRIPLET_STEMS = ("frame0, frame1, frame2", "im1, im2, im3")
TRIPLET_FILES = [
    [f"{stem}{suffix}" for stem in stems.split(", ")]
    for stems in TRIPLET_STEMS
    for suffix in (".png", ".jpg", ".jpeg", ".JPG")
]


def _triplet_files(folder: Path) -> list[Path]:
    """The three frames of a triplet folder (:data:`TRIPLET_FILES`), or [] when it is not one."""
    for names in TRIPLET_FILES if folder.is_dir() else []:
        if all((folder / name).is_file() for name in names):
            return [folder / name for name in names]
    return []


def triplet_folders(path: str | Path, projection: str = "auto") -> Dataset:
    """Folders ``<id>/frame0.png, frame1.png (middle), frame2.png`` (:data:`TRIPLET_FILES`)."""
    root = Path(path)
    found = [(d, _triplet_files(d)) for d in sorted(root.iterdir(), key=natural_key) if d.is_dir()]
    notes = [f"skipped {d.name}: not a triplet (no {' / '.join(TRIPLET_STEMS)} there)"
             for d, files in found if not files]  # fmt: skip
    found = [(d.name, files) for d, files in found if files]
    if not found:
        raise ViewsynthError(f"{root}: no <id>/frame0.png, frame1.png, frame2.png folders")
    return _triplet_set(root, root.name, "triplets", found, notes, projection)


def _triplet_set(source: Path, name: str, kind: str, found, notes, projection) -> Dataset:
    """A set of ``(name, [img0, middle, img1])`` files, read when its samples are."""

    def make() -> Iterator[Sample]:
        for sample, files in found:
            yield _triplet(sample, *files, equirect)

    firsts = [found[0][1][0], found[0][1][2]]
    images = [_read(p) for p in firsts]
    equirect = _panoramas(firsts, images, projection, notes)
    size = (images[0].shape[1], images[0].shape[0])
    return Dataset(name, kind, str(source), equirect, len(found), make, notes=notes, size=size)


def leave_one_out_indices(
    n: int, every: int = 1, parity: Parity = "all", gap: int = 1
) -> list[int]:
    """Frames ``i`` predicted from ``i - gap`` and ``i + gap`` among ``n``: parity first, then
    every k-th."""
    if every < 1:
        raise ViewsynthError(f"--every: must be at least 1, got {every}")
    if gap < 1:
        raise ViewsynthError(f"--gap: must be at least 1, got {gap}")
    inner = range(gap, n - gap)
    if parity == "odd":
        inner = [i for i in inner if i % 2 == 1]
    elif parity == "even":
        inner = [i for i in inner if i % 2 == 0]
    elif parity != "all":
        raise ViewsynthError(f"--parity: expected odd, even or all, got {parity!r}")
    return list(inner)[::every]


#: How leave-one-out reads a capture: in file-name (or frame) order, every frame kept, as stored.
#: The capture wing's clock ordering, gap splits and duplicate dropping would change which frames
#: are neighbours, and its yaw alignment would turn the ground truth; "perspective" also keeps it
#: from squaring panoramas to exactly 2:1 (whether a set is panoramic: `_panoramas`).
AS_STORED = CaptureOptions(
    projection="perspective",
    time_source="filename",
    time_gap=0.0,
    distance_gap=0.0,
    duplicate_distance=0.0,
    duplicate_images=False,
    max_speed=0.0,
    use_gps=False,
    align_heading=False,
)


def leave_one_out(
    path: str | Path,
    every: int = 1,
    parity: Parity = "all",
    gap: int = 1,
    width: int = 0,
    projection: str = "auto",
) -> Dataset:
    """Leave-one-out on a folder of images or a video file: predict frame i from i - gap and
    i + gap (1: the neighbours). ``width`` > 0 resizes every frame, the truth too, to that width,
    the aspect kept (area-averaged when shrinking; see ``frames.resize``).

    An image that does not decode costs the triplets that need it (each skipped with a note), not
    the whole set; so does a triplet whose frames differ in size.
    """
    source = Path(path)
    is_video = source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES
    if not (source.is_dir() or is_video):
        raise ViewsynthError(f"{source}: not a folder of images, a video or a known dataset layout")
    leave_one_out_indices(3, every, parity, gap)  # the options' checks, before any decoding
    capture = load_capture(source, AS_STORED)
    shots = {shot.name: shot for shot in capture.shots}
    # Unreadable images keep their places, so one does not make neighbours of the frames around
    # it; the capture lists them among its skipped files.
    unreadable = {
        name: f"{source / name}: {reason}"
        for name, reason in capture.skipped
        if Path(name).suffix.lower() in IMAGE_SUFFIXES and (source / name).is_file()
    }
    names = sorted([*shots, *unreadable], key=natural_key) if unreadable else list(shots)
    if len(names) < 2 * gap + 1:
        raise ViewsynthError(
            f"{source}: leave-one-out with a gap of {gap} needs at least {2 * gap + 1} images, "
            f"found {len(names)}"
        )
    targets = leave_one_out_indices(len(names), every, parity, gap)
    notes: list[str] = []
    first = capture.shots[0]
    _, image = next(stored_frames(capture, [first], width))
    equirect = _panoramas([first.path], [image], projection, notes)

    def label(i: int) -> str:  # a folder's frames by file stem, a video's by frame number
        return f"frame{shots[names[i]].frame_index:05d}" if is_video else Path(names[i]).stem

    def make() -> Iterator[Sample]:
        usable = []
        for i in targets:
            triplet = [names[i - gap], names[i], names[i + gap]]
            problem = _triplet_problem(source, triplet, shots, unreadable)
            if problem:
                notes.append(f"skipped {label(i)}: {problem}")
            else:
                usable.append(i)
        needed = sorted({j for i in usable for j in (i - gap, i, i + gap)})
        decoded = zip(
            needed, stored_frames(capture, [shots[names[j]] for j in needed], width), strict=True
        )
        window: dict[int, np.ndarray] = {}
        for i in usable:
            while i + gap not in window:
                j, (_, image) = next(decoded)
                window[j] = image
            img0, gt, img1 = window[i - gap], window[i], window[i + gap]
            # (a panorama has no field of view, as in a job)
            hfov = None if equirect else pair_hfov(shots[names[i - gap]], shots[names[i + gap]])
            yield Sample(label(i), img0, img1, to_uint8(gt), 0.5, equirect, hfov)
            for j in [j for j in window if j <= i - gap]:
                del window[j]  # later targets are past i: they need no frame up to i - gap

    w, h = capture.shots[0].size
    size = (width, max(1, round(h * width / w))) if width else (w, h)
    name = source.name if gap == 1 else f"{source.name} gap {gap}"
    return Dataset(
        name, "leave-one-out", str(source), equirect, len(targets), make, notes=notes, size=size
    )


def _triplet_problem(
    source: Path, names: Sequence[str], shots: dict[str, Shot], unreadable: dict[str, str]
) -> str:
    """Why a triplet cannot be scored (an unreadable frame, frames of different sizes), or ''."""
    for name in names:
        if name in unreadable:
            return unreadable[name]
    if len({shots[name].size for name in names}) > 1:
        sizes = ", ".join(f"{name} {shots[name].size[0]}x{shots[name].size[1]}" for name in names)
        return f"{source}: frames of one triplet differ in size ({sizes})"
    return ""


def stored_frames(
    capture: Capture, shots: Sequence[Shot], width: int = 0
) -> Iterator[tuple[Shot, np.ndarray]]:
    """``iter_frames`` at each frame's own size (or ``width`` wide, the aspect kept): a capture
    brings every frame to one working size, which would rescale a ground truth stored at another."""
    for (w, h), run in itertools.groupby(shots, key=lambda shot: shot.size):
        size = (width, max(1, round(h * width / w))) if width else (w, h)
        yield from iter_frames(replace(capture, working_size=size), list(run), apply_yaw=False)


def open_dataset(
    path: str | Path,
    every: int = 1,
    parity: Parity = "all",
    gap: int = 1,
    width: int = 0,
    projection: str = "auto",
) -> Dataset:
    """The set at ``path``, its layout detected (Middlebury, triplet folders, or leave-one-out;
    ``width`` resizes leave-one-out frames, see ``leave_one_out``); ``projection`` 'auto' decides
    whether its frames are panoramas as a job does (:func:`_panoramas`)."""
    source = Path(path)
    if not source.exists():
        raise DatasetUnavailable(f"{source}: no such file or folder")
    if (listed := vimeo.list_file(source)) is not None:  # Vimeo-90K's root or one of its lists
        found, notes = vimeo.triplets(listed)
        name = f"{listed.parent.name} {listed.stem}"
        return _triplet_set(listed, name, "vimeo-90k", found, notes, projection)
    if source.is_dir():
        if (source / "input").is_dir() and (source / "gt").is_dir():
            return middlebury(source, projection)
        if any(_triplet_files(d) for d in source.iterdir()):
            return triplet_folders(source, projection)
    return leave_one_out(source, every, parity, gap, width, projection)


def render_set(count: int, width: int, height: int, seed: int | None = None) -> Dataset:
    """Held-out street panoramas (``viewsynth.synth.heldout_panoramas``), never trained on.

    ``seed`` ``None`` takes the benchmark's (``synth.BENCHMARK_SEED``: no checkpoint was chosen
    on them, unlike the training validation's). The panoramas are rendered once, on first use,
    and kept: a rolled run of the same set reuses them.
    """
    cache: list[Sample] = []

    def make() -> Iterator[Sample]:
        if not cache:
            first = synth.BENCHMARK_SEED if seed is None else seed
            made = synth.heldout_panoramas(count, width, height, first)
            for k, (img0, gt, img1, t) in enumerate(made):
                img0, gt, img1 = (np.asarray(x, dtype=np.float32) for x in (img0, gt, img1))
                cache.append(Sample(f"render{k:03d}", img0, img1, to_uint8(gt), float(t), True))
        yield from cache

    label = f"render {width}x{height}" + ("" if seed is None else f" seed {seed}")
    source = "viewsynth.synth.heldout_panoramas"
    return Dataset(label, "render", source, True, count, make, size=(width, height))


def synthetic_set(count: int, width: int, height: int, seed: int = 0) -> Dataset:
    """``count`` moving-texture scenes (``viewsynth.synth.moving_triplet``) with exact middles.

    Panoramas when ``width == 2 * height``: they turn about the vertical axis, which moves content
    across the seam.
    """
    if count < 1 or width < 16 or height < 16:
        raise ViewsynthError(
            f"synthetic set: need count >= 1 and size >= 16x16, got {count} at {width}x{height}"
        )
    equirect = is_equirect_shape(width, height)

    def make() -> Iterator[Sample]:
        for k in range(count):
            img0, mid, img1 = synth.moving_triplet(width, height, seed, k)
            yield Sample(f"synthetic{k:03d}", img0, img1, to_uint8(mid), 0.5, equirect)

    name = f"synthetic {'panoramas' if equirect else 'perspective'} {width}x{height}"
    source = f"synthetic seed {seed}"
    return Dataset(name, "synthetic", source, equirect, count, make, size=(width, height))
