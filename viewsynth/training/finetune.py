"""Self-supervised fine-tuning on a user's own capture: predict frame i from frames i - 1 and i + 1.

The capture is a folder of images (natural file-name order, as the evaluation's leave-one-out
reads it, so ``targets='odd'`` here and ``--parity even`` there never share a target frame) or a
video file (frame order). Frames are brought to a working size (perspective: longer side at most
``max_side``, then random ``crop`` x ``crop`` windows; panoramas: whole, ``pano_width`` wide) and
every triplet uses ``t = 0.5``. Training is the ordinary loop (:func:`viewsynth.training.loop.train`)
started from the base weights, with a small learning rate; the result is one weights file that
``--weights`` takes. Before and after, the model's PSNR on up to ``report_triplets`` of the
training triplets (whole frames at working size) is reported next to the ``flow`` baseline's:
a measure of fit, not of generalisation.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from viewsynth import frames as frames_lib
from viewsynth.errors import FrameError, ViewsynthError, WeightsError
from viewsynth.interpolators import Flow
from viewsynth.model.weights import DEFAULT_WEIGHTS, load_weights, save_weights
from viewsynth.training import augment as augment_lib
from viewsynth.training import loop, losses
from viewsynth.training.sources import DataConfig, FrameTriplets, read_video, stack_batch

Targets = Literal["all", "even", "odd"]


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
    # Perspective frames are shrunk so their longer side is at most this, then cropped.
    max_side: int = 640
    crop: int = 192
    # Panoramas are trained whole at this width (2:1), rolled at random.
    pano_width: int = 512
    # Recurrent iterations unrolled in training; 0: the model's default.
    iters: int = 0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 50
    # Triplets scored before and after (fit on the capture, not generalisation); 0: none.
    report_triplets: int = 8
    optim: loop.OptimConfig = dataclasses.field(
        default_factory=lambda: loop.OptimConfig(
            learning_rate=5e-5, warmup_steps=20, end_fraction=0.1, weight_decay=0.0
        )
    )
    # The loss and augmentation the shipped model was last trained with (Runs 4-6): Charbonnier
    # without the census term, no input-only noise or JPEG (which taught smoothing of real frames).
    loss: loop.LossConfig = dataclasses.field(
        default_factory=lambda: loop.LossConfig(census_weight=0.0)
    )
    augment: augment_lib.AugmentConfig = dataclasses.field(
        default_factory=lambda: augment_lib.AugmentConfig(
            exposure_stops=0.05, white_balance=0.02, noise=0.0, jpeg=0.0
        )
    )

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.crop % 8 or self.pano_width % 16:
            raise ValueError("crop must be a multiple of 8 and pano_width of 16")


def capture_frames(
    path: str | Path, *, max_side: int, pano_width: int
) -> tuple[list[np.ndarray], bool, list[str]]:
    """The frames of a capture in order, at working size: ``(frames uint8 (H, W, 3), equirect, names)``.

    A folder's images are read in natural name order; frames that cannot be decoded are dropped
    (their names come back in the notes) and the indices refer to the remaining ones, as in the
    evaluation. All frames must share one size.
    """
    path = Path(path)
    notes: list[str] = []
    if path.is_file() and path.suffix.lower() in frames_lib.VIDEO_SUFFIXES:
        images = list(read_video(path))
    elif path.is_dir():
        files = sorted(
            (
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in frames_lib.IMAGE_SUFFIXES
            ),
            key=lambda p: frames_lib.natural_key(p.name),
        )
        images = []
        for f in files:
            try:
                images.append(frames_lib.read_image(f).image)
            except FrameError as err:
                notes.append(f"skipped {err}")
    else:
        raise ViewsynthError(f"{path}: not a capture (expected a folder of images or a video file)")
    if len(images) < 3:
        raise ViewsynthError(
            f"{path}: fine-tuning needs at least 3 readable frames, found {len(images)}"
        )
    sizes = {im.shape[:2] for im in images}
    if len(sizes) != 1:
        raise ViewsynthError(
            f"{path}: frames differ in size ({sorted(sizes)[:2]}); use one camera setting"
        )
    h, w = images[0].shape[:2]
    equirect = frames_lib.is_equirect_shape(w, h)
    if equirect:
        size = (pano_width, pano_width // 2)
    else:
        scale = min(1.0, max_side / max(h, w))
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
    out = [frames_lib.to_uint8(frames_lib.resize(im, *size)) for im in images]
    return out, equirect, notes


def target_indices(n: int, targets: Targets) -> list[int]:
    """Middle frames allowed as targets among ``n`` (indices as in the evaluation's leave-one-out)."""
    inner = range(1, n - 1)
    if targets == "odd":
        return [i for i in inner if i % 2 == 1]
    if targets == "even":
        return [i for i in inner if i % 2 == 0]
    return list(inner)


def _batches(
    triplets: FrameTriplets, cfg: FinetuneConfig, classical: bool, stride: int
) -> Callable[[int], Any]:
    h, w = triplets.frames[0].shape[:2]
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
        return stack_batch(out, classical_init=classical)

    return make


def _fit_scores(
    model, triplets: FrameTriplets, count: int, iters: int, stride: int
) -> dict[str, float]:
    """Mean PSNR (WS-PSNR for panoramas) of the model and of ``flow`` on the first ``count`` triplets."""
    if count <= 0:
        return {}
    picks = np.linspace(0, len(triplets) - 1, min(count, len(triplets))).round().astype(int)
    flow = Flow()
    eq = triplets.equirect
    model_scores, flow_scores = [], []
    for k in sorted(set(picks.tolist())):
        tr = triplets.triplet(k)
        h, w = tr.img0.shape[:2]
        hh, ww = (
            h // stride * stride,
            w // stride * stride,
        )  # the network needs multiples of its stride
        tr = augment_lib.crop(tr, 0, 0, hh, ww) if (hh, ww) != (h, w) else tr
        tr = dataclasses.replace(tr, equirect=eq and (hh, ww) == (h, w))
        batch = stack_batch([tr], classical_init=model.config.init == "classical")
        init = batch.init if model.config.init == "classical" else None
        pred = np.asarray(
            loop.predict(
                model, batch.img0, batch.img1, batch.t, init, equirect=tr.equirect, iters=iters
            )
        )[0]
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


def finetune(
    capture: str | Path,
    out: str | Path,
    cfg: FinetuneConfig,
    *,
    base: str | Path | None = None,
    workdir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Adapt the ``base`` weights (default: the shipped ones) to ``capture``; write them to ``out``.

    ``workdir`` keeps the checkpoints (a re-run resumes there); without it a temporary folder is
    used and removed. Raises ``WeightsError`` when there are no base weights.
    """
    say = log or (lambda _msg: None)
    base_path = Path(base) if base else DEFAULT_WEIGHTS
    if not base_path.is_file():
        if base:
            raise WeightsError(f"{base_path}: weights file not found")
        raise WeightsError(
            f"no trained weights shipped ({base_path} is missing): use --weights FILE as the base"
        )
    started = time.time()
    frames, equirect, notes = capture_frames(
        capture, max_side=cfg.max_side, pano_width=cfg.pano_width
    )
    for note in notes:
        say(note)
    targets = target_indices(len(frames), cfg.targets)
    triplets = FrameTriplets(
        frames, gaps=cfg.gaps, targets=targets, equirect=equirect, name=str(capture)
    )
    h, w = frames[0].shape[:2]
    say(
        f"{len(frames)} frames at {w}x{h} ({'panoramas' if equirect else 'perspective'}), "
        f"{len(triplets)} triplets ({cfg.targets} targets)"
    )

    model = load_weights(base_path)
    iters = cfg.iters or model.config.iters
    stride = model.config.stride
    classical = model.config.init == "classical"
    before = _fit_scores(model, triplets, cfg.report_triplets, iters, stride)
    if before:
        say(f"before: model {before['model']:.2f} dB, flow {before['flow']:.2f} dB")

    with tempfile.TemporaryDirectory(prefix="viewsynth-finetune-") as tmp:
        run_dir = Path(workdir) if workdir else Path(tmp)
        train_cfg = loop.TrainConfig(
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
            validation=loop.ValidationConfig(every=0),
        )
        result = loop.train(train_cfg, batches=_batches(triplets, cfg, classical, stride), log=log)
    tuned = result.model
    after = _fit_scores(tuned, triplets, cfg.report_triplets, iters, stride)
    if after:
        say(f"after: model {after['model']:.2f} dB, flow {after['flow']:.2f} dB")
    wall = time.time() - started
    save_weights(
        out,
        tuned,
        meta={
            "finetuned_from": str(base_path),
            "capture": str(capture),
            "steps": result.end_step,
            "targets": cfg.targets,
            "triplets": len(triplets),
            "fit_before_db": before,
            "fit_after_db": after,
            "wall_time_s": round(wall, 1),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return FinetuneResult(result.end_step, len(triplets), equirect, before, after, notes, wall)
