"""Evaluation sets: where ``(img0, gt, img1, t)`` triplets come from.

A ``Dataset`` yields ``Sample``s lazily, one at a time, so a set of any length runs in memory
bounded by a few frames. Inputs are ``(H, W, 3)`` float32 RGB in [0, 1]; the ground truth is kept
as the uint8 image it was stored as, since metrics are computed on uint8.

Layouts ``open_dataset`` recognises in a path:
- Middlebury: ``input/<seq>/frame10.png``, ``input/<seq>/frame11.png``, ``gt/<seq>/frame10i11.png``.
- triplet folders: ``<id>/frame0.png``, ``<id>/frame1.png`` (the middle), ``<id>/frame2.png``.
- leave-one-out: any folder of images (a capture, a frame folder) or a video file: frame ``i`` is
  predicted from ``i - 1`` and ``i + 1``. Frames are taken in natural file-name order (``2`` before
  ``10``); ``i`` counts from 0, so ``parity="odd"`` predicts frames 1, 3, 5, ... from even ones;
  ``every=k`` then keeps every k-th of those.
Generated sets: ``render_set`` (the training renderer's held-out panoramas, imported lazily) and
``synthetic_set`` (moving procedural textures with exact in-between frames, made here).

``rolled(dataset)`` shifts panoramas (inputs and ground truth alike) by half a width, so the 360
seam cuts through what was the centre of the view.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.frames import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    from_uint8,
    is_equirect_shape,
    read_image,
    resize,
    to_uint8,
)

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

    def samples(self) -> Iterator[Sample]:
        """The samples, in a fixed order; rolled by half a width when ``self.rolled``."""
        for i, sample in enumerate(self.make_samples()):
            if self.limit and i >= self.limit:
                return
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


def natural_key(path: Path) -> list:
    """Sort key putting ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _read(path: Path) -> np.ndarray:
    return read_image(path).image


def _equirect(image: np.ndarray) -> bool:
    return is_equirect_shape(image.shape[1], image.shape[0])


def _check_sizes(paths: tuple[Path, ...], images: tuple[np.ndarray, ...]) -> None:
    shapes = {img.shape for img in images}
    if len(shapes) > 1:
        sizes = ", ".join(
            f"{p.name} {im.shape[1]}x{im.shape[0]}" for p, im in zip(paths, images, strict=True)
        )
        raise FrameError(f"{paths[0].parent}: frames of one triplet differ in size ({sizes})")


def _triplet(name: str, p0: Path, pgt: Path, p1: Path, t: float = 0.5) -> Sample:
    img0, gt, img1 = _read(p0), _read(pgt), _read(p1)
    _check_sizes((p0, pgt, p1), (img0, gt, img1))
    return Sample(name, img0, img1, to_uint8(gt), t, _equirect(img0))


def middlebury(path: str | Path) -> Dataset:
    """The Middlebury layout at ``path``: sequences with ``input/`` frames and a ``gt/`` middle."""
    root = Path(path)
    seqs = sorted(
        (d.name for d in (root / "gt").iterdir() if (d / "frame10i11.png").is_file()),
        key=lambda s: natural_key(Path(s)),
    )
    seqs = [s for s in seqs if (root / "input" / s / "frame10.png").is_file()]
    if not seqs:
        raise ViewsynthError(
            f"{root}: no sequence has input/<seq>/frame10.png and gt/<seq>/frame10i11.png"
        )

    def make() -> Iterator[Sample]:
        for seq in seqs:
            inp = root / "input" / seq
            yield _triplet(
                seq, inp / "frame10.png", root / "gt" / seq / "frame10i11.png", inp / "frame11.png"
            )

    first = _read(root / "input" / seqs[0] / "frame10.png")
    return Dataset(root.name, "middlebury", str(root), _equirect(first), len(seqs), make)


def triplet_folders(path: str | Path) -> Dataset:
    """Folders ``<id>/frame0.png, frame1.png (middle), frame2.png`` under ``path``."""
    root = Path(path)
    ids = sorted(
        (d for d in root.iterdir() if all((d / f"frame{i}.png").is_file() for i in range(3))),
        key=natural_key,
    )
    if not ids:
        raise ViewsynthError(f"{root}: no <id>/frame0.png, frame1.png, frame2.png folders")

    def make() -> Iterator[Sample]:
        for d in ids:
            yield _triplet(d.name, d / "frame0.png", d / "frame1.png", d / "frame2.png")

    first = _read(ids[0] / "frame0.png")
    return Dataset(root.name, "triplets", str(root), _equirect(first), len(ids), make)


def leave_one_out_indices(n: int, every: int = 1, parity: Parity = "all") -> list[int]:
    """Frames ``i`` predicted from ``i - 1`` and ``i + 1`` among ``n``: parity first, then every k-th."""
    if every < 1:
        raise ViewsynthError(f"--every: must be at least 1, got {every}")
    inner = range(1, n - 1)
    if parity == "odd":
        inner = [i for i in inner if i % 2 == 1]
    elif parity == "even":
        inner = [i for i in inner if i % 2 == 0]
    elif parity != "all":
        raise ViewsynthError(f"--parity: expected odd, even or all, got {parity!r}")
    return list(inner)[::every]


def leave_one_out(path: str | Path, every: int = 1, parity: Parity = "all") -> Dataset:
    """Leave-one-out on a folder of images or a video file: predict frame i from i - 1 and i + 1."""
    source = Path(path)
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        return _leave_one_out_video(source, every, parity)
    if not source.is_dir():
        raise ViewsynthError(f"{source}: not a folder of images, a video or a known dataset layout")
    files = sorted(
        (p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
        key=natural_key,
    )
    if len(files) < 3:
        raise ViewsynthError(f"{source}: leave-one-out needs at least 3 images, found {len(files)}")
    targets = leave_one_out_indices(len(files), every, parity)
    notes: list[str] = []

    def make() -> Iterator[Sample]:
        for i in targets:
            try:
                yield _triplet(files[i].stem, files[i - 1], files[i], files[i + 1])
            except FrameError as err:
                # One bad frame costs the triplets that need it, not the whole set.
                notes.append(f"skipped {files[i].name}: {err}")

    first = _read(files[0])
    return Dataset(
        source.name, "leave-one-out", str(source), _equirect(first), len(targets), make, notes=notes
    )


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    """Decoded frames of a video, ``(H, W, 3)`` uint8 RGB, one at a time (imageio-ffmpeg)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
    except (RuntimeError, OSError, StopIteration) as err:
        raise FrameError(
            f"{path}: not a readable video ({str(err).splitlines()[0] if str(err) else err})"
        ) from None
    width, height = meta["size"]
    try:
        for raw in reader:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
    finally:
        reader.close()


def _leave_one_out_video(path: Path, every: int, parity: Parity) -> Dataset:
    leave_one_out_indices(3, every, parity)  # the same checks of the options as for folders

    def make() -> Iterator[Sample]:
        window: deque[np.ndarray] = deque(maxlen=3)
        # Targets are chosen as frames arrive: the length of a video is unknown before decoding.
        eligible = 0
        for index, frame in enumerate(_video_frames(path)):
            window.append(frame)
            i = index - 1
            if len(window) < 3:
                continue
            if parity == "odd" and i % 2 == 0 or parity == "even" and i % 2 == 1:
                continue
            take = eligible % every == 0
            eligible += 1
            if take:
                f0, fgt, f1 = window
                yield Sample(
                    f"frame{i:05d}",
                    from_uint8(f0),
                    from_uint8(f1),
                    fgt.copy(),
                    0.5,
                    is_equirect_shape(f0.shape[1], f0.shape[0]),
                )

    first = next(_video_frames(path))
    return Dataset(
        path.name,
        "leave-one-out",
        str(path),
        is_equirect_shape(first.shape[1], first.shape[0]),
        None,
        make,
    )


def open_dataset(path: str | Path, every: int = 1, parity: Parity = "all") -> Dataset:
    """The set at ``path``, its layout detected (Middlebury, triplet folders, or leave-one-out)."""
    source = Path(path)
    if not source.exists():
        raise DatasetUnavailable(f"{source}: no such file or folder")
    if source.is_dir():
        if (source / "input").is_dir() and (source / "gt").is_dir():
            return middlebury(source)
        if any(
            all((d / f"frame{i}.png").is_file() for i in range(3))
            for d in source.iterdir()
            if d.is_dir()
        ):
            return triplet_folders(source)
    return leave_one_out(source, every, parity)


def render_set(count: int, width: int, height: int, seed: int | None = None) -> Dataset:
    """Held-out panoramas from the training renderer (``viewsynth.training.render``), never trained on.

    ``seed`` ``None`` takes the renderer's own held-out default. The panoramas are rendered once,
    on first use, and kept: a rolled run of the same set reuses them. Raises ``DatasetUnavailable``
    when the renderer is not in this checkout.
    """
    try:
        from viewsynth.training.render import heldout_panoramas
    except ImportError as err:
        raise DatasetUnavailable(
            f"rendered panoramas: viewsynth.training.render.heldout_panoramas is unavailable ({err})"
        ) from None
    cache: list[Sample] = []

    def make() -> Iterator[Sample]:
        if not cache:
            extra = {} if seed is None else {"seed": seed}
            for k, (img0, gt, img1, t) in enumerate(
                heldout_panoramas(count, width, height, **extra)
            ):
                cache.append(
                    Sample(
                        f"render{k:03d}",
                        np.asarray(img0, dtype=np.float32),
                        np.asarray(img1, dtype=np.float32),
                        to_uint8(np.asarray(gt, dtype=np.float32)),
                        float(t),
                        True,
                    )
                )
        yield from cache

    label = f"render {width}x{height}" + ("" if seed is None else f" seed {seed}")
    return Dataset(label, "render", "viewsynth.training.render", True, count, make)


# --- the synthetic moving-texture set -------------------------------------------------------------


@dataclass(frozen=True)
class _Scene:
    """Parameters of one procedural scene: a textured background and a textured moving disc."""

    base: np.ndarray  # (2, 3) colours at top and bottom
    gratings: np.ndarray  # (G, 6): kx, ky, phase, r, g, b amplitudes
    blobs: np.ndarray  # (B, 7): cx, cy, sigma, alpha, r, g, b
    disc: np.ndarray  # (9,): cx, cy, radius, r, g, b, kx, ky, phase
    shift_bg: tuple[float, float]  # pixels from frame 0 to frame 1
    shift_fg: tuple[float, float]


def _scene(rng: np.random.Generator, width: int, height: int, equirect: bool) -> _Scene:
    # Integer horizontal frequencies keep panorama textures periodic across the seam.
    gratings = np.stack(
        [
            rng.integers(1, 12, 4).astype(np.float64),
            rng.integers(1, 8, 4).astype(np.float64),
            rng.uniform(0, 2 * np.pi, 4),
            *rng.uniform(-0.08, 0.08, (3, 4)),
        ],
        axis=1,
    )
    n_blobs = 96
    blobs = np.stack(
        [
            rng.uniform(0, width, n_blobs),
            rng.uniform(0, height, n_blobs),
            np.maximum(rng.uniform(0.004, 0.02, n_blobs) * width, 1.2),  # no aliasing
            rng.uniform(0.5, 0.9, n_blobs),
            *rng.uniform(0, 1, (3, n_blobs)),
        ],
        axis=1,
    )
    disc = np.array(
        [
            rng.uniform(0, width),
            rng.uniform(0.3, 0.7) * height,
            rng.uniform(0.06, 0.12) * min(width, 2 * height),
            *rng.uniform(0.1, 0.9, 3),
            rng.integers(2, 5),
            rng.integers(2, 5),
            rng.uniform(0, 2 * np.pi),
        ]
    )
    span = width / 40.0
    bg = (float(rng.uniform(-span, span)), 0.0 if equirect else float(rng.uniform(-span, span) / 2))
    fg = (float(rng.uniform(-2 * span, 2 * span)), float(rng.uniform(-span, span) / 2))
    return _Scene(rng.uniform(0.2, 0.8, (2, 3)), gratings, blobs, disc, bg, fg)


def _wrap(dx: np.ndarray, width: int, equirect: bool) -> np.ndarray:
    return (dx + width / 2) % width - width / 2 if equirect else dx


def _draw(scene: _Scene, width: int, height: int, t: float, equirect: bool) -> np.ndarray:
    """The scene at time ``t`` (0 = frame 0, 1 = frame 1): ``(H, W, 3)`` float32 in [0, 1].

    The background translates by ``t * shift_bg`` (a yaw turn for panoramas, wrapping the seam),
    the disc by ``t * shift_fg``; the image is an exact function of ``t``, so any in-between
    frame is known exactly (linear motion).
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    bx = x - t * scene.shift_bg[0]
    by = y - t * scene.shift_bg[1]
    v = (by / height)[..., None]
    img = (1 - v) * scene.base[0] + v * scene.base[1]
    for kx, ky, phase, *amp in scene.gratings:
        wave = np.sin(2 * np.pi * (kx * bx / width + ky * by / height) + phase)
        img = img + wave[..., None] * np.asarray(amp)
    for cx, cy, sigma, alpha, *colour in scene.blobs:
        # Each blob touches only a box of +-5 sigma around its centre (exp(-12.5) is below
        # 1e-5): drawing it there keeps large sets fast.
        ccx, ccy = cx + t * scene.shift_bg[0], cy + t * scene.shift_bg[1]
        r = int(np.ceil(5 * sigma)) + 1
        y0, y1 = max(0, int(np.floor(ccy)) - r), min(height, int(np.floor(ccy)) + r + 1)
        cols = np.arange(int(np.floor(ccx)) - r, int(np.floor(ccx)) + r + 1)
        cols = np.unique(cols % width) if equirect else cols[(cols >= 0) & (cols < width)]
        if y0 >= y1 or cols.size == 0:
            continue
        dx = _wrap(cols + 0.5 - ccx, width, equirect)
        dy = np.arange(y0, y1) + 0.5 - ccy
        a = (alpha * np.exp(-(dx[None] ** 2 + dy[:, None] ** 2) / (2 * sigma * sigma)))[..., None]
        img[y0:y1, cols] = img[y0:y1, cols] * (1 - a) + a * np.asarray(colour)
    cx, cy, radius, r, g, b, kx, ky, phase = scene.disc
    dx = _wrap(x - cx - t * scene.shift_fg[0], width, equirect)
    dy = y - cy - t * scene.shift_fg[1]
    inside = np.clip(radius - np.sqrt(dx * dx + dy * dy) + 0.5, 0.0, 1.0)[..., None]
    # A checker of two sinusoids: texture in both directions, so motion is measurable.
    stripes = 0.5 + 0.4 * np.sin(np.pi * kx * dx / radius + phase) * np.sin(
        np.pi * ky * dy / radius
    )
    disc = stripes[..., None] * np.array([r, g, b]) * 1.6
    img = img * (1 - inside) + inside * disc
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def synthetic_pair(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two frames of a moving synthetic scene, ``(H, W, 3)`` float32 each, for speed tests.

    Large sizes are drawn at most 1440 pixels wide and resized up (content need not be exact here).
    """
    equirect = is_equirect_shape(width, height)
    scale = min(1.0, 1440 / width)
    w, h = max(16, int(round(width * scale))), max(8, int(round(height * scale)))
    scene = _scene(np.random.default_rng(seed), w, h, equirect)
    img0, img1 = _draw(scene, w, h, 0.0, equirect), _draw(scene, w, h, 1.0, equirect)
    return resize(img0, width, height), resize(img1, width, height)


def synthetic_set(count: int, width: int, height: int, seed: int = 0) -> Dataset:
    """``count`` procedural scenes with exact middle frames; panoramas when ``width == 2 * height``.

    Textures (gratings and soft blobs) move by up to ``width / 40`` pixels and a striped disc by up
    to twice that, so methods see real motion and occlusion; panoramas turn about the vertical
    axis, which moves content across the seam.
    """
    if count < 1 or width < 16 or height < 16:
        raise ViewsynthError(
            f"synthetic set: need count >= 1 and size >= 16x16, got {count} at {width}x{height}"
        )
    equirect = is_equirect_shape(width, height)

    def make() -> Iterator[Sample]:
        for k in range(count):
            scene = _scene(np.random.default_rng([seed, k]), width, height, equirect)
            img0 = _draw(scene, width, height, 0.0, equirect)
            mid = _draw(scene, width, height, 0.5, equirect)
            img1 = _draw(scene, width, height, 1.0, equirect)
            yield Sample(f"synthetic{k:03d}", img0, img1, to_uint8(mid), 0.5, equirect)

    kind = "panoramas" if equirect else "perspective"
    return Dataset(
        f"synthetic {kind} {width}x{height}",
        "synthetic",
        f"synthetic seed {seed}",
        equirect,
        count,
        make,
    )


# --- the configured form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetConfig:
    """One set of the benchmark suite."""

    # Label in the report; empty: the folder's name.
    name: str = ""
    # "path": a folder or video, its layout detected; "render": the training renderer's held-out
    # panoramas; "synthetic": the procedural moving-texture set.
    kind: Literal["path", "render", "synthetic"] = "path"
    # Folder or video for kind "path"; relative paths are relative to the config file.
    path: str = ""
    # Generated sets: how many triplets, their size and the seed.
    count: int = 8
    width: int = 1024
    height: int = 512
    # null: the renderer's held-out default (render), 0 (synthetic).
    seed: int | None = None
    # Leave-one-out: predict every k-th eligible frame; "odd"/"even" restrict i (counted from 0).
    every: int = 1
    parity: Literal["all", "odd", "even"] = "all"
    # Also run the set with panoramas rolled by half a width (seam through the content).
    rolled: bool = False
    # At most this many samples (0: all), to fit a time budget.
    limit: int = 0


def from_config(cfg: DatasetConfig, base_dir: str | Path = ".") -> Dataset:
    """The ``Dataset`` a config entry names; ``DatasetUnavailable`` when its data is absent."""
    if cfg.kind == "render":
        dataset = render_set(cfg.count, cfg.width, cfg.height, cfg.seed)
    elif cfg.kind == "synthetic":
        dataset = synthetic_set(cfg.count, cfg.width, cfg.height, cfg.seed or 0)
    else:
        if not cfg.path:
            raise ViewsynthError(f"dataset {cfg.name!r}: kind 'path' needs a path")
        path = Path(cfg.path)
        if not path.is_absolute():
            path = Path(base_dir) / path
        dataset = open_dataset(path, cfg.every, cfg.parity)
    dataset.limit = cfg.limit
    if cfg.limit and dataset.count is not None:
        dataset.count = min(dataset.count, cfg.limit)
    if cfg.name:
        dataset.name = cfg.name
    return dataset
