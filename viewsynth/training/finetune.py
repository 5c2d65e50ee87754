"""Self-supervised fine-tuning on a user's own capture: predict frame i from frames i - 1 and i + 1.

The capture (a folder of images or a video file) is read through :mod:`viewsynth.capture`, as
``viewsynth interpolate`` reads it with the same ``capture:`` options: frames on the capture's one
clock, cut into segments at time and distance gaps, duplicates dropped, panoramas turned to the
direction of travel. Triplets ``(k - g, k, k + g)`` lie inside one segment, so the model learns
from exactly the neighbours ``interpolate`` pairs, never across a gap. ``targets`` 'even' / 'odd'
keeps middles whose frame number, as ``viewsynth evaluate`` counts frames (:mod:`.targets`), has that
parity, so a run on one parity leaves every frame ``evaluate --parity`` scores of the other unseen.

Memory: each shot a triplet uses is decoded once, one at a time, and only a uint8 copy at training
size is kept (perspective: longer side at most ``max_side``, then random ``crop`` x ``crop``
windows; panoramas: whole, ``pano_width`` x ``pano_width / 2``): about ``shots x w x h x 3`` bytes
(512 x 256 panoramas: 384 KiB a shot, 0.4 GB for 1000), with nothing at capture size outliving
one frame. Decoding on demand instead would decode ``3 x batch_size`` full-size images a step.

Every triplet uses ``t = 0.5``. A panorama's middle frame is first turned to ``flow``'s halfway
view (``align_middle``, as the real-walk training source does): a hand-held camera's orientation
there is chance, and the interpolator renders the halfway one. Training is the ordinary loop
(:func:`viewsynth.training.loop.train`)
started from the base weights, with a small learning rate; the result is one weights file that
``--weights`` takes. Before and after, the model's PSNR on up to ``report_triplets`` of the
training triplets (whole frames at training size) is reported next to the ``flow`` baseline's:
a measure of fit, not of generalisation.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from viewsynth import frames as frames_lib
from viewsynth.capture import Capture, CaptureOptions, iter_frames, load_capture
from viewsynth.errors import ViewsynthError, WeightsError
from viewsynth.interpolators import Flow
from viewsynth.interpolators.sweep import GeometrySettings
from viewsynth.model.weights import (
    DEFAULT_WEIGHTS,
    FLOW_ONLY_WEIGHTS,
    load_described,
    save_weights,
)
from viewsynth.training import augment as augment_lib
from viewsynth.training import checkpoint, loop, losses
from viewsynth.training import config as train_config
from viewsynth.training.real360 import align_middle
from viewsynth.training.sources import DataConfig, Triplet, stack_batch
from viewsynth.training.step import predict
from viewsynth.training.targets import Targets, stored_ranks, triplet_choices


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Settings of ``viewsynth finetune`` (``configs/finetune.yaml``)."""

    steps: int = 200
    batch_size: int = 2
    # Middle frames to learn: all, or only even / odd indices (the Lund protocol trains on one
    # parity and evaluates on the other).
    targets: Targets = "all"
    # Frame steps g of the triplets (i - g, i, i + g); 1 is leave-one-out.
    gaps: tuple[int, ...] = (1,)
    # Perspective frames are shrunk so their longer side is at most this (a photos network's: to
    # the size rnn decides at, at most 512 wide, where its candidate is made), then cropped.
    max_side: int = 640
    crop: int = 192
    # Panoramas are trained whole at this width (2:1), rolled at random.
    pano_width: int = 512
    # Recurrent iterations unrolled in training; 0: the model's default.
    iters: int = 0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 50
    # Panoramas: turn each middle frame by the small rotation (at most 5 degrees an angle) that maps
    # it onto flow's halfway view (:func:`viewsynth.training.real360.align_middle`), so the loss
    # charges parallax and occlusion, not the hand-held camera's chance orientation.
    align_middle: bool = True
    # Triplets scored before and after (fit on the capture, not generalisation); 0: none.
    report_triplets: int = 8
    # How the capture is read: the same section, with the same defaults, as ``viewsynth
    # interpolate``'s, so the triplets are the neighbours it pairs.
    capture: CaptureOptions = dataclasses.field(default_factory=CaptureOptions)
    optim: train_config.OptimConfig = dataclasses.field(
        default_factory=lambda: train_config.OptimConfig(
            learning_rate=5e-5, warmup_steps=20, end_fraction=0.1, weight_decay=0.0
        )
    )
    # The loss and augmentation the shipped model was last trained with (Runs 4-6): Charbonnier
    # without the census term, no input-only noise or JPEG (which taught smoothing of real frames).
    loss: train_config.LossConfig = dataclasses.field(
        default_factory=lambda: train_config.LossConfig(census_weight=0.0)
    )
    augment: augment_lib.AugmentConfig = dataclasses.field(
        default_factory=lambda: augment_lib.AugmentConfig(
            exposure_stops=0.05, white_balance=0.02, noise=0.0, jpeg=0.0
        )
    )

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.crop < 8 or self.crop % 8 or self.pano_width < 16 or self.pano_width % 16:
            raise ValueError("crop must be a positive multiple of 8 and pano_width of 16")
        if self.max_side < self.crop:
            raise ValueError(f"max_side ({self.max_side}) must be at least crop ({self.crop})")
        if not self.gaps or min(self.gaps) < 1:
            raise ValueError(f"gaps must be frame steps of at least 1, got {list(self.gaps)}")
        if min(self.log_every, self.checkpoint_every) < 1 or self.iters < 0:
            raise ValueError("log_every and checkpoint_every must be >= 1 and iters >= 0")
        if not self.optim.learning_rate > 0:
            raise ValueError(
                f"optim.learning_rate must be positive, got {self.optim.learning_rate}"
            )


def training_size(
    working_size: tuple[int, int], equirect: bool, cfg: FinetuneConfig
) -> tuple[int, int]:
    """``(w, h)`` frames are trained at: panoramas ``pano_width`` x half; else longer side <= ``max_side``."""
    if equirect:
        return cfg.pano_width, cfg.pano_width // 2
    w, h = working_size
    scale = min(1.0, cfg.max_side / max(h, w))
    return max(8, round(w * scale)), max(8, round(h * scale))


class CaptureTriplets:
    """The training triplets of a capture: ``frames`` maps a shot index (as in ``triplet_choices``)
    to its ``(H, W, 3)`` uint8 frame at training size; only shots some triplet uses are kept.
    ``mids`` (panoramas with ``align_middle``) maps a triplet's index to its turned middle frame."""

    def __init__(
        self,
        frames: dict[int, np.ndarray],
        choices: list[tuple[int, int, int]],
        equirect: bool,
        mids: dict[int, np.ndarray] | None = None,
    ):
        self.frames, self.choices, self.equirect = frames, choices, equirect
        self.mids = mids or {}

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of every frame."""
        return next(iter(self.frames.values())).shape[:2]

    def __len__(self) -> int:
        return len(self.choices)

    def triplet(self, index: int) -> Triplet:
        index %= len(self.choices)
        a, m, b = (self.frames[k] for k in self.choices[index])
        f = [frames_lib.from_uint8(x) for x in (a, self.mids.get(index, m), b)]
        return Triplet(f[0], f[1], f[2], 0.5, self.equirect)

    def sample(self, rng: np.random.Generator) -> Triplet:
        return self.triplet(int(rng.integers(len(self.choices))))


def capture_triplets(
    path: str | Path, cfg: FinetuneConfig, size: tuple[int, int] | None = None
) -> tuple[CaptureTriplets, Capture]:
    """The capture at ``path`` read as ``viewsynth interpolate`` reads it, and its triplets
    (:func:`read_triplets`, then :func:`decode_triplets` at ``size``, default ``training_size``)."""
    capture, choices = read_triplets(path, cfg)
    size = size or training_size(capture.working_size, capture.equirect, cfg)
    return decode_triplets(capture, choices, size, cfg), capture


def read_triplets(path: str | Path, cfg: FinetuneConfig) -> tuple[Capture, list]:
    """The capture at ``path`` (its tags, clock, segments) and its triplets' shot indices."""
    capture = load_capture(path, cfg.capture)
    shots = capture.shots
    if len(shots) < 3:
        raise ViewsynthError(
            f"{path}: fine-tuning needs at least 3 readable frames, found {len(shots)}"
        )
    lengths = [len(segment) for segment in capture.segments]
    choices = triplet_choices(lengths, cfg.gaps, cfg.targets, stored_ranks(path, capture))
    if not choices:
        where = f" within a segment (segments of {lengths} shots)" if len(lengths) > 1 else ""
        raise ViewsynthError(
            f"{path}: no middle frame has neighbours at gaps {list(cfg.gaps)}{where}"
        )
    return capture, choices


def decode_triplets(
    capture: Capture, choices: list, size: tuple[int, int], cfg: FinetuneConfig
) -> CaptureTriplets:
    """Each shot a triplet uses, decoded once (``iter_frames``: working size, turned by its yaw),
    shrunk to ``size`` (w, h) and kept as uint8; nothing larger outlives one frame."""
    needed = {k for choice in choices for k in choice}
    frames: dict[int, np.ndarray] = {}
    start = 0
    for segment in capture.segments:
        keys = [start + j for j in range(len(segment)) if start + j in needed]
        wanted = [segment[k - start] for k in keys]
        for k, (_shot, image) in zip(keys, iter_frames(capture, wanted), strict=True):
            frames[k] = frames_lib.to_uint8(frames_lib.resize(image, *size))
        start += len(segment)
    mids: dict[int, np.ndarray] = {}
    if capture.equirect and cfg.align_middle:
        for index, (a, m, b) in enumerate(choices):
            frame = [frames_lib.from_uint8(frames[k]) for k in (a, m, b)]
            mids[index] = frames_lib.to_uint8(align_middle(*frame).mid)
    return CaptureTriplets(frames, choices, capture.equirect, mids)


def _batches(
    triplets: CaptureTriplets,
    cfg: FinetuneConfig,
    stride: int,
    geometry: bool,
) -> Callable[[int], Any]:
    h, w = triplets.shape
    if triplets.equirect:
        crop_h, crop_w = h, w
    else:
        side = min(cfg.crop, h // stride * stride, w // stride * stride)
        crop_h = crop_w = side

    def make(step: int):
        rng = np.random.default_rng([cfg.seed, step])
        out = []
        for _ in range(cfg.batch_size):
            tr = triplets.sample(rng)
            if not triplets.equirect:
                tr = augment_lib.random_crop(rng, tr, crop_h, crop_w)
            out.append(augment_lib.augment(rng, tr, dataclasses.replace(cfg.augment, vflip=0.0)))
        return stack_batch(out, geometry=geometry)

    return make


def _fit_scores(
    model, triplets: CaptureTriplets, count: int, iters: int, stride: int, posed=None
) -> dict[str, float]:
    """Mean PSNR (WS-PSNR for panoramas) of the model and of ``flow`` on up to ``count`` triplets
    (``posed``: the photos network's, with their starts: :mod:`viewsynth.training.photos`)."""
    from viewsynth.training.photos import crop_init

    indices = range(len(triplets)) if posed is None else posed.keep
    if count <= 0 or not indices:
        return {}
    picks = np.linspace(0, len(indices) - 1, min(count, len(indices))).round().astype(int)
    flow = Flow()
    eq = triplets.equirect
    model_scores, flow_scores = [], []
    for k in sorted({indices[i] for i in picks.tolist()}):
        tr = triplets.triplet(k)
        h, w = tr.img0.shape[:2]
        hh, ww = h // stride * stride, w // stride * stride  # the network's multiples
        tr = augment_lib.crop(tr, 0, 0, hh, ww) if (hh, ww) != (h, w) else tr
        tr = dataclasses.replace(tr, equirect=eq and (hh, ww) == (h, w))
        if posed is None:
            batch = stack_batch([tr], geometry=model.config.geometry)
        else:
            batch = stack_batch([tr], classical_init=False)
            batch = dataclasses.replace(batch, init=crop_init(posed.inits[k], 0, 0, hh, ww))
        pred = np.asarray(
            predict(model, batch.img0, batch.img1, batch.t, batch.init, equirect=tr.equirect,
                    iters=iters)
        )[0]  # fmt: skip
        model_scores.append(losses.psnr_uint8(pred, tr.mid, equirect=tr.equirect))
        base = flow(tr.img0, tr.img1, [0.5], equirect=tr.equirect)[0]
        flow_scores.append(losses.psnr_uint8(base, tr.mid, equirect=tr.equirect))
    return {"model": float(np.mean(model_scores)), "flow": float(np.mean(flow_scores))}


@dataclasses.dataclass
class FinetuneResult:
    """What :func:`finetune` did: steps, fit before/after (dB), notes on skipped frames."""

    steps: int
    triplets: int
    equirect: bool
    before: dict[str, float]
    after: dict[str, float]
    notes: list[str]
    wall_time_s: float


#: What a fine-tune's work folder was made for (:func:`_claim`).
CLAIM = "finetune.json"


def _claim(run_dir: Path, capture, base: Path, cfg: FinetuneConfig) -> None:
    """Resume in ``run_dir`` only the fine-tune it holds: the same capture, base weights and
    settings (more or fewer steps, and how often it logs, may change). Another one's checkpoints
    would be resumed as if they were this one's: refused in one line."""
    held = dataclasses.asdict(cfg)
    for knob in ("steps", "log_every", "checkpoint_every", "report_triplets"):
        held.pop(knob)
    key = {"capture": str(Path(capture).resolve()), "base": str(base.resolve()), "settings": held}
    checkpoint.claim(
        run_dir, CLAIM, key, "fine-tune's checkpoints (another capture, base weights or settings)"
    )


def finetune(
    capture: str | Path,
    out: str | Path,
    cfg: FinetuneConfig,
    *,
    base: str | Path | None = None,
    workdir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Adapt the ``base`` weights to ``capture``; write them to ``out``, which makes the capture's
    frames as ``--weights``. The default base: panoramas' geometry network; photos' 2D network,
    which then makes every pair (on Lund it did better tuned than the photos network tuned,
    TRAINING_LOG.md session 33). A photos or geometry base given on photos is tuned as the photos
    network (:mod:`viewsynth.training.photos`: the triplets whose pair has a pose, with the pinhole
    sweep's candidate; its file says so). ``workdir`` keeps the checkpoints (a re-run resumes
    there); without it a temporary folder is used and removed."""
    from viewsynth.training import photos

    say = log or (lambda _msg: None)
    if base and not Path(base).is_file():
        raise WeightsError(f"{base}: weights file not found")
    started = time.time()
    loaded, choices = read_triplets(capture, cfg)
    equirect = loaded.equirect
    base_path = Path(base) if base else DEFAULT_WEIGHTS if equirect else FLOW_ONLY_WEIGHTS
    if not base_path.is_file():
        raise WeightsError(
            f"no trained weights shipped ({base_path} is missing): use --weights FILE as the base"
        )
    if workdir:  # before any work: another run's folder is refused at once
        _claim(Path(workdir), capture, base_path, cfg)
    model, info = load_described(base_path)
    pinhole = model.config.geometry and not equirect  # (a photos network's fine-tune)
    work = loaded.working_size
    size = photos.network_size(*work) if pinhole else training_size(work, equirect, cfg)
    triplets = decode_triplets(loaded, choices, size, cfg)
    notes = list(loaded.warnings)
    for note in notes:
        say(note)
    h, w = triplets.shape
    segments = f" in {len(loaded.segments)} segments" if len(loaded.segments) > 1 else ""
    say(
        f"{len(loaded.shots)} frames{segments} at {w}x{h} "
        f"({'panoramas' if equirect else 'perspective'}), "
        f"{len(triplets)} triplets ({cfg.targets} targets)"
    )
    posed, record = None, GeometrySettings().record()  # (the sweep panoramas' batches use)
    if pinhole:
        posed, record = photos.tune_photos(capture, triplets, loaded.shots, base_path, info)
        notes.extend(posed.notes)
        for note in [*posed.notes, f"tuning the photos network on {len(posed.keep)} triplets"]:
            say(note)
    iters = cfg.iters or model.config.iters
    stride = model.config.stride
    before = _fit_scores(model, triplets, cfg.report_triplets, iters, stride, posed)
    if before:
        say(f"before: model {before['model']:.2f} dB, flow {before['flow']:.2f} dB")

    with tempfile.TemporaryDirectory(prefix="viewsynth-finetune-") as tmp:
        run_dir = Path(workdir) if workdir else Path(tmp)
        train_cfg = train_config.TrainConfig(
            workdir=str(run_dir),
            seed=cfg.seed,
            steps=cfg.steps,
            iters=iters,
            log_every=cfg.log_every,
            checkpoint_every=cfg.checkpoint_every,
            keep_checkpoints=1,
            init_weights=str(base_path),
            prefetch=1,
            model=model.config,
            # Only the batch size matters here (batches come from the capture): it is checked
            # against the device count and reported.
            data=dataclasses.replace(DataConfig(), batch_size=cfg.batch_size),
            optim=cfg.optim,
            loss=cfg.loss,
            validation=train_config.ValidationConfig(every=0),
        )
        batches = (
            photos.photo_batches(triplets, posed, cfg, stride)
            if posed
            else _batches(triplets, cfg, stride, model.config.geometry)
        )
        result = loop.train(train_cfg, batches=batches, log=log)
    tuned = result.model
    after = _fit_scores(tuned, triplets, cfg.report_triplets, iters, stride, posed)
    if after:
        say(f"after: model {after['model']:.2f} dB, flow {after['flow']:.2f} dB")
    wall = time.time() - started
    geometry: dict[str, Any] = {}
    if tuned.config.geometry:  # the sweep its batches were made with, which the product uses too
        geometry["geometry"] = record
    if pinhole:  # a photos network: rnn gives it ordinary photos (--weights)
        geometry["photos"] = True
    save_weights(
        out,
        tuned,
        meta={
            **geometry,
            "finetuned_from": str(base_path),
            "capture": str(capture),
            "steps": result.end_step,
            "targets": cfg.targets,
            "triplets": len(posed.keep) if posed else len(triplets),
            "fit_before_db": before,
            "fit_after_db": after,
            "wall_time_s": round(wall, 1),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    used = len(posed.keep) if posed else len(triplets)
    return FinetuneResult(result.end_step, used, equirect, before, after, notes, wall)
