"""The training loop: config schema, the jitted step, validation against the classical baseline.

A run lives in its work folder::

    <workdir>/config.yaml        the resolved config of the latest launch
    <workdir>/checkpoints/<n>/   Orbax checkpoints after n finished steps (resumed automatically)
    <workdir>/metrics.jsonl      one JSON object per logged step or validation
    <workdir>/loss.png           training loss and validation PSNR (model vs classical flow)
    <workdir>/best.msgpack       weights of the best validation so far (the export candidate)
    <workdir>/last.msgpack       weights after the last step, once the run has finished or stopped
                                 at ``max_minutes`` (meta ``finished`` tells which)

Batches are a pure function of ``(seed, step)`` (:class:`~viewsynth.training.sources.TrainingData`),
so a resumed run sees the data it would have seen. Data-parallel over all local devices: the batch
is sharded on the ``data`` axis of a 1-D mesh, parameters and optimiser state are replicated.
A non-finite loss stops the run with :class:`TrainingDiverged`; checkpoints are only written after
finite steps, so the last good one stays.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import yaml
from flax import nnx

from viewsynth import config as config_lib
from viewsynth import parallel
from viewsynth.errors import ConfigError, ViewsynthError
from viewsynth.interpolators import Flow
from viewsynth.model.init import Init
from viewsynth.model.network import ModelConfig, Network
from viewsynth.model.weights import load_weights, read_meta, save_weights
from viewsynth.training import losses, render
from viewsynth.training.checkpoint import Checkpoints
from viewsynth.training.sources import Batch, DataConfig, TrainingData, stack_batch, texture_photos


class TrainingDiverged(ViewsynthError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up, cosine decay and global-norm clipping."""

    learning_rate: float = 2e-4
    warmup_steps: int = 100
    # The cosine decays to learning_rate * end_fraction at the last step.
    end_fraction: float = 0.05
    weight_decay: float = 1e-4
    b1: float = 0.9
    b2: float = 0.999
    clip_norm: float = 1.0


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Sequence loss over every recurrent iteration (see :mod:`viewsynth.training.losses`)."""

    gamma: float = 0.8
    census_weight: float = 1.0
    census_radius: int = 3
    # Weight of the SSIM term (1 - SSIM) / 2 (11x11 Gaussian window, as the evaluation's SSIM).
    ssim_weight: float = 0.0
    # Weight of the squared error (PSNR's own measure), besides the Charbonnier term.
    mse_weight: float = 0.0

    def __post_init__(self):
        if min(self.census_weight, self.ssim_weight, self.mse_weight) < 0:
            raise ValueError(
                "loss.census_weight, loss.ssim_weight and loss.mse_weight must be >= 0"
            )


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """Fixed held-out renders (seeds never trained on) scored every ``every`` steps."""

    every: int = 100
    # Held-out street panoramas (WS-PSNR) at this size.
    panoramas: int = 8
    width: int = 256
    height: int = 128
    # Held-out perspective street views (PSNR), size x size.
    perspective: int = 8
    size: int = 128
    # Use the licensed photos (when present) for the held-out textures too.
    photos: bool = True
    # Real-video triplets (gaps 1 and 2, spread evenly) from the training video's held-out tail
    # (``data.video_holdout`` frames), whole frames cropped to multiples of the model stride.
    video: int = 0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run; ``configs/train.yaml`` fills it (``viewsynth train --config FILE``)."""

    # Work folder: checkpoints, metrics, plots, best weights; a run resumes from it.
    workdir: str = "runs/train"
    seed: int = 0
    # Total optimisation steps (the learning-rate schedule spans them).
    steps: int = 1000
    # Recurrent iterations K unrolled in training (the loss covers each).
    iters: int = 3
    # Stop cleanly (checkpoint, validation) after this much wall time in this launch; 0: no limit.
    max_minutes: float = 0.0
    log_every: int = 10
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    # Start from these weights instead of a fresh network (their model config must match).
    init_weights: str = ""
    # With init_weights: begin at this step of the schedule and of the data stream, to finish a run
    # whose checkpoints were lost from the weights it left (the AdamW moments start at zero). A
    # checkpoint in the workdir still wins (resume). 0: from the start.
    init_step: int = 0
    # Stop cleanly after this step (checkpoint, validation, last.msgpack), as max_minutes would;
    # the schedule still spans ``steps``, so a resume without it finishes the run. 0: no stop.
    stop_step: int = 0
    # Batches prepared ahead in background threads (``data_workers`` of them make batches at once:
    # rendering, DIS and augmentation release the GIL, so a many-core host keeps a GPU fed).
    prefetch: int = 2
    data_workers: int = 1
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)

    def __post_init__(self):
        if self.steps < 1 or self.iters < 1:
            raise ValueError("steps and iters must be >= 1")
        s = self.model.stride
        for name, n in (
            ("data.pano_height", self.data.pano_height),
            ("data.crop", self.data.crop),
            ("validation.height", self.validation.height),
            ("validation.size", self.validation.size),
        ):
            if n % s:
                raise ValueError(f"{name} = {n} is not a multiple of the model stride {s}")
        if not 0 <= self.init_step < self.steps:
            raise ValueError(
                f"init_step {self.init_step} must be in 0 .. steps - 1 ({self.steps - 1})"
            )
        if self.init_step and not self.init_weights:
            raise ValueError("init_step needs init_weights (the weights the run left at that step)")
        if not 0 <= self.stop_step <= self.steps:
            raise ValueError(f"stop_step {self.stop_step} must be in 0 .. steps ({self.steps})")
        if self.validation.video > 0 and self.data.video_holdout < 3:
            raise ValueError("validation.video needs held-out frames: set data.video_holdout >= 3")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """The :class:`TrainConfig` from a YAML file and ``--set key=value`` overrides."""
    return config_lib.load(TrainConfig, path, overrides)


# ----------------------------------------------------------------------------------------------
# Optimisation


#: Consecutive updates with a non-finite gradient that are skipped before the run is let to fail.
MAX_SKIPPED_UPDATES = 5

#: ModelConfig fields that shape no parameter: ``init_weights`` may differ from the run's model in
#: these (the run's values are taken), e.g. to train an existing network's mask with its flows fixed.
RUNTIME_MODEL_FIELDS = ("iters", "learn_flow")


def refine_fields(model: ModelConfig) -> dict[str, bool]:
    """The refinement heads of ``model``: stored weights may lack a head (it starts at zero)."""
    return {"refine_mask": model.refine_mask, "refine_residual": model.refine_residual}


@functools.cache
def make_optimizer(
    cfg: OptimConfig, steps: int, offset: int = 0
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW (decoupled weight decay) after global-norm clipping; warm-up then cosine decay.

    An update whose gradient holds a NaN or an infinity is skipped (the parameters and the
    optimiser's moments stay as they were), up to ``MAX_SKIPPED_UPDATES`` in a row; after that the
    poisoned update goes through, the loss turns non-finite and the run stops with
    :class:`TrainingDiverged`. (A GPU run once stopped at a NaN with a finite batch: TRAINING_LOG.md,
    Run 2.)

    ``offset``: the optimiser's first update is step ``offset + 1`` of the schedule (a run begun
    at ``init_step``); the returned schedule is the whole run's, indexed by the global step.

    Cached per ``(cfg, steps, offset)``: ``nnx.Optimizer`` keeps the transformation in its static graph,
    so a new (unequal) object for the same settings would make the jitted step compile again.
    """
    warmup = max(1, min(cfg.warmup_steps, steps - 1))
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(steps, warmup + 1),
        end_value=cfg.learning_rate * cfg.end_fraction,
    )
    tx = optax.apply_if_finite(
        optax.chain(
            optax.clip_by_global_norm(cfg.clip_norm),
            optax.adamw(
                (lambda count: schedule(count + offset)) if offset else schedule,
                b1=cfg.b1,
                b2=cfg.b2,
                weight_decay=cfg.weight_decay,
            ),
        ),
        max_consecutive_errors=MAX_SKIPPED_UPDATES,
    )
    return tx, schedule


def skipped_updates(optimizer: nnx.Optimizer) -> int:
    """How many updates ``optax.apply_if_finite`` has skipped in this optimiser's life."""
    total = getattr(optimizer.opt_state, "total_notfinite", None)
    return int(total.value) if total is not None else 0


@nnx.jit(static_argnames=("equirect", "iters", "loss_cfg"))
def train_step(
    model: Network,
    optimizer: nnx.Optimizer,
    img0,
    img1,
    mid,
    t,
    init: Init | None,
    *,
    equirect: bool,
    iters: int,
    loss_cfg: LossConfig,
):
    """One AdamW step on a batch; returns ``(loss, per-iteration losses (K,), gradient norm)``."""

    def loss_fn(model):
        out = model(img0, img1, t, equirect=equirect, iters=iters, init=init)
        return losses.sequence_loss(
            out.frames,
            mid,
            equirect=equirect,
            gamma=loss_cfg.gamma,
            census_weight=loss_cfg.census_weight,
            census_radius=loss_cfg.census_radius,
            ssim_weight=loss_cfg.ssim_weight,
            mse_weight=loss_cfg.mse_weight,
        )

    (loss, per_iter), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    return loss, per_iter, optax.tree.norm(grads)


@nnx.jit(static_argnames=("equirect", "iters"))
def predict(model: Network, img0, img1, t, init: Init | None, *, equirect: bool, iters: int):
    """The network's final frame ``(B, H, W, 3)``."""
    return model(img0, img1, t, equirect=equirect, iters=iters, init=init).frames[-1]


# ----------------------------------------------------------------------------------------------
# Devices


def shard_batch(batch: Batch, mesh: jax.sharding.Mesh) -> tuple:
    """``(img0, img1, mid, t, init)`` on the mesh, split along the batch axis."""
    return parallel.shard_batch((batch.img0, batch.img1, batch.mid, batch.t, batch.init), mesh)


def replicate(model: nnx.Module, optimizer: nnx.Optimizer, mesh: jax.sharding.Mesh) -> None:
    """Place every parameter and optimiser state array on all devices of ``mesh`` (in place)."""
    nnx.update((model, optimizer), parallel.replicate(nnx.state((model, optimizer)), mesh))


# ----------------------------------------------------------------------------------------------
# Validation


@dataclasses.dataclass
class ValidationSet:
    """Held-out triplets of one kind, their classical init and the flow baseline's score."""

    name: str
    batch: Batch
    flow_psnr: float


def video_triplets(frames: Sequence[np.ndarray], count: int, stride: int) -> list[render.Triplet]:
    """``count`` triplets ``(i - g, i, i + g)``, g in (1, 2), spread evenly over ``frames``, each
    frame cropped (centred) to multiples of ``stride``."""
    choices = [(i, g) for g in (1, 2) for i in range(g, len(frames) - g)]
    picks = [choices[int(k)] for k in np.linspace(0, len(choices) - 1, min(count, len(choices)))]
    h, w = frames[0].shape[:2]
    top, left = (h % stride) // 2, (w % stride) // 2
    rows, cols = slice(top, top + h - h % stride), slice(left, left + w - w % stride)
    out = []
    for i, g in picks:
        a, m, b = (np.asarray(frames[j], np.float32)[rows, cols] for j in (i - g, i, i + g))
        out.append(render.Triplet(a, m, b, 0.5, False))
    return out


def validation_sets(
    cfg: ValidationConfig,
    classical: bool,
    photos: Sequence[np.ndarray] = (),
    video_frames: Sequence[np.ndarray] = (),
    stride: int = 8,
) -> list[ValidationSet]:
    """Held-out street panoramas and perspective views (seeds at or above ``HELDOUT_SEED``) and,
    with ``cfg.video``, triplets of ``video_frames`` (the training video's held-out tail)."""
    sets = []
    if cfg.panoramas > 0:
        triplets = [
            render.Triplet(a, m, b, t, True)
            for a, m, b, t in render.heldout_panoramas(
                cfg.panoramas, cfg.width, cfg.height, photos=photos
            )
        ]
        sets.append(("pano", triplets))
    if cfg.perspective > 0:
        seed = render.HELDOUT_SEED + 500_000
        textures = render.make_textures(seed, photos=photos)
        triplets = [
            render.street_triplet(
                seed + i, textures, width=cfg.size, height=cfg.size, equirect=False
            )
            for i in range(cfg.perspective)
        ]
        sets.append(("persp", triplets))
    if cfg.video > 0 and len(video_frames) >= 3:
        sets.append(("video", video_triplets(video_frames, cfg.video, stride)))
    out = []
    flow = Flow()
    for name, triplets in sets:
        batch = stack_batch(triplets, classical_init=classical)
        scores = [
            losses.psnr_uint8(
                flow(tr.img0, tr.img1, [tr.t], equirect=tr.equirect)[0],
                tr.mid,
                equirect=tr.equirect,
            )
            for tr in triplets
        ]
        out.append(ValidationSet(name, batch, float(np.mean(scores))))
    return out


def validate(model: Network, sets: list[ValidationSet], iters: int) -> dict[str, float]:
    """Mean (WS-)PSNR of the model and of the flow baseline on each set."""
    out: dict[str, float] = {}
    for vs in sets:
        b = vs.batch
        pred = np.asarray(
            predict(model, b.img0, b.img1, b.t, b.init, equirect=b.equirect, iters=iters)
        )
        scores = [
            losses.psnr_uint8(p, m, equirect=b.equirect) for p, m in zip(pred, b.mid, strict=True)
        ]
        metric = "wspsnr" if b.equirect else "psnr"
        out[f"{vs.name}_{metric}_model"] = float(np.mean(scores))
        out[f"{vs.name}_{metric}_flow"] = vs.flow_psnr
    return out


def score(metrics: dict[str, float]) -> float:
    """One number to pick the best checkpoint: the mean gain over the flow baseline (dB)."""
    gains = [
        metrics[k] - metrics[k.replace("_model", "_flow")] for k in metrics if k.endswith("_model")
    ]
    return float(np.mean(gains)) if gains else -math.inf


# ----------------------------------------------------------------------------------------------
# Logging


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a half-written last line is skipped)."""
    out = []
    path = Path(path)
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def plot_curves(metrics_path: str | Path, png_path: str | Path) -> None:
    """Training loss (log scale) and validation PSNR of model vs flow, as a PNG (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    fig = Figure(figsize=(11, 4))
    FigureCanvasAgg(fig)  # the object-oriented API: no pyplot, no global backend state
    axes = fig.subplots(1, 2)
    if train:
        steps = np.array([r["step"] for r in train])
        values = np.array([r["loss"] for r in train])
        axes[0].plot(steps, values, lw=0.6, alpha=0.4, label="logged")
        # Batches alternate panoramas and crops: a running mean shows the trend through the noise.
        k = min(len(values), 10)
        smooth = np.convolve(values, np.ones(k) / k, mode="valid")
        axes[0].plot(steps[k - 1 :], smooth, lw=1.5, label=f"mean of {k}")
        axes[0].set_yscale("log")
        axes[0].legend(fontsize=7)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("training loss")
    keys = sorted({k for r in val for k in r if k.endswith("_model") or k.endswith("_flow")})
    for k in keys:
        axes[1].plot(
            [r["step"] for r in val if k in r],
            [r[k] for r in val if k in r],
            ls="--" if k.endswith("_flow") else "-",
            label=k,
        )
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("validation dB")
    if keys:
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    tmp = Path(png_path).with_name(f".{Path(png_path).name}.part.png")
    fig.savefig(tmp, dpi=90)
    tmp.replace(png_path)


# ----------------------------------------------------------------------------------------------
# The run


def _prefetch(
    make: Callable[[int], Batch], start: int, stop: int, depth: int, workers: int = 1
) -> Iterator[Batch]:
    """Batches ``start .. stop - 1`` in order, made in background threads, at most ``depth`` ahead.

    With ``workers`` > 1 a pool makes several batches at once (``make`` must be thread-safe);
    ``depth`` 0 makes them in the caller's thread, one at a time, whatever ``workers`` says.
    """
    if depth <= 0:
        for step in range(start, stop):
            yield make(step)
        return
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(workers, thread_name_prefix="viewsynth-data")
        pending: collections.deque = collections.deque()
        ahead = max(depth, workers)
        nxt = start
        try:
            for _ in range(start, stop):
                while nxt < stop and len(pending) < ahead:
                    pending.append(pool.submit(make, nxt))
                    nxt += 1
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    halt = threading.Event()

    def work():
        try:
            for step in range(start, stop):
                if halt.is_set():
                    return
                item = make(step)
                while not halt.is_set():
                    try:
                        q.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
        except BaseException as err:  # handed to the consumer, which re-raises it
            q.put(err)

    thread = threading.Thread(target=work, daemon=True, name="viewsynth-data")
    thread.start()
    try:
        for _ in range(start, stop):
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        halt.set()


@dataclasses.dataclass
class RunResult:
    """What a call to :func:`train` did."""

    workdir: Path
    start_step: int
    end_step: int
    last_loss: float
    validation: dict[str, float]
    wall_time_s: float
    model: Network  # the trained network, as of end_step


def build_model(cfg: TrainConfig) -> Network:
    """A fresh network from ``cfg.model`` or the weights at ``cfg.init_weights``."""
    if not cfg.init_weights:
        return Network(cfg.model, rngs=nnx.Rngs(cfg.seed))
    model = load_weights(cfg.init_weights)
    free = {name: getattr(cfg.model, name) for name in RUNTIME_MODEL_FIELDS}
    if dataclasses.replace(model.config, **free) == cfg.model:
        model.config = cfg.model
    elif dataclasses.replace(model.config, **free, **refine_fields(cfg.model)) == cfg.model:
        # The refinement's heads changed (a mask head added, the residual head dropped): every
        # stored parameter the new network has is kept, a new head starts at zero.
        grown = Network(cfg.model, rngs=nnx.Rngs(cfg.seed))
        wanted = {path for path, _ in nnx.state(grown, nnx.Param).flat_state()}
        stored = nnx.state(model, nnx.Param).flat_state()
        kept = {path: value for path, value in stored if path in wanted}
        nnx.update(grown, nnx.State.from_flat_path(kept))
        model = grown
    else:
        raise ConfigError(
            f"init_weights {cfg.init_weights}: its model config differs from the run's 'model' section "
            "(copy the weights' config or drop init_weights)"
        )
    return model


def train(
    cfg: TrainConfig,
    *,
    batches: Callable[[int], Batch] | None = None,
    log: Callable[[str], None] | None = None,
    meta: dict[str, Any] | None = None,
) -> RunResult:
    """Run (or resume) training in ``cfg.workdir`` up to ``cfg.steps``.

    ``batches(step) -> Batch`` replaces the default data (tests, fine-tuning); ``log`` receives
    one-line progress messages; ``meta`` is stored with the best weights. Raises
    :class:`TrainingDiverged` on a non-finite loss (the last good checkpoint stays).
    """
    say = log or (lambda _msg: None)
    workdir = Path(cfg.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config_lib.to_dict(cfg), sort_keys=False))

    # Files first (video decoding forks ffmpeg: do it before JAX starts its thread pools).
    classical = cfg.model.init == "classical"
    data: TrainingData | None = None
    if batches is None:
        # The group cache must hold every batch in flight, so that none is rendered twice.
        in_flight = max(cfg.data_workers, cfg.prefetch)
        data = TrainingData(cfg.data, cfg.seed, classical_init=classical, in_flight=in_flight)
        batches = data.batch
        say(f"data: {', '.join(data.sources)}")
    val_photos: list[np.ndarray] = []
    if cfg.validation.every > 0 and cfg.validation.photos:
        val_photos = (
            data.photos if data and data.photos else texture_photos(cfg.data.data_root or None)
        )

    mesh = parallel.data_mesh()
    n_dev = mesh.devices.size
    if cfg.data.batch_size % n_dev:
        raise ConfigError(
            f"data.batch_size {cfg.data.batch_size} is not a multiple of the {n_dev} devices"
        )
    say(
        f"{n_dev} device(s): {jax.devices()[0].platform}; batch {cfg.data.batch_size} split on 'data'"
    )

    model = build_model(cfg)
    tx, schedule = make_optimizer(cfg.optim, cfg.steps, cfg.init_step)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    # The optimiser counts global steps (checkpoint names, an interrupt's save).
    optimizer.step.value = jnp.asarray(cfg.init_step, dtype=optimizer.step.value.dtype)
    replicate(model, optimizer, mesh)

    ckpts = Checkpoints(workdir / "checkpoints", keep=cfg.keep_checkpoints)
    record: dict[str, Any] = {}
    start = ckpts.latest_step() or 0
    if start:
        record = ckpts.restore(start, model, optimizer)
        say(f"resumed from {ckpts.directory / str(start)} (step {start})")
    elif cfg.init_step:
        start = cfg.init_step
        say(
            f"starting at step {start} of {cfg.steps} from {cfg.init_weights} (fresh AdamW moments)"
        )
    stop = min(cfg.steps, cfg.stop_step or cfg.steps)
    wall_before = float(record.get("wall_time_s", 0.0))
    best = float(record.get("best_score", -math.inf))
    video_frames = data.video_heldout if data else []
    if cfg.validation.every > 0 and cfg.validation.video > 0 and not video_frames:
        say("validation.video: no held-out video frames (shared data absent?): not scored")
    vsets = (
        validation_sets(
            cfg.validation, classical, val_photos, video_frames, stride=cfg.model.stride
        )
        if cfg.validation.every > 0
        else []
    )
    run_meta = dict(meta or {})
    run_meta.setdefault("data", data.sources if data else "custom batches")

    metrics_path = workdir / "metrics.jsonl"
    launch = time.time()
    last_loss = float("nan")
    last_val: dict[str, float] = {}
    step = start

    def save(step_done: int) -> None:
        ckpts.save(
            step_done,
            model,
            optimizer,
            {"wall_time_s": wall_before + time.time() - launch, "best_score": best},
        )

    def run_validation(step_done: int) -> None:
        nonlocal best, last_val
        last_val = validate(model, vsets, cfg.iters)
        gain = score(last_val)
        rec = {"kind": "val", "step": step_done, **last_val, "gain_db": gain}
        _append_jsonl(metrics_path, rec)
        say(f"val step {step_done}: " + ", ".join(f"{k} {v:.2f}" for k, v in last_val.items()))
        if gain > best:
            best = gain
            save_weights(
                workdir / "best.msgpack",
                model,
                meta=dict(
                    run_meta,
                    steps=step_done,
                    validation=last_val,
                    gain_db=gain,
                    wall_time_s=round(wall_before + time.time() - launch, 1),
                    date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                ),
            )
        plot_curves(metrics_path, workdir / "loss.png")

    if start == cfg.init_step and not record and vsets:
        # The starting network (untrained with the classical init, it equals `flow`).
        run_validation(start)
    tick, tick_step = time.time(), start
    try:
        for batch in _prefetch(batches, start, stop, cfg.prefetch, cfg.data_workers):
            img0, img1, mid, t, init = shard_batch(batch, mesh)
            init = init if classical else None
            loss, per_iter, gnorm = train_step(
                model, optimizer, img0, img1, mid, t, init,
                equirect=batch.equirect, iters=cfg.iters, loss_cfg=cfg.loss,
            )  # fmt: skip
            last_loss = float(loss)
            if not math.isfinite(last_loss):
                good = ckpts.latest_step()
                kept = (
                    f"last good checkpoint step {good} kept in {ckpts.directory}"
                    if good
                    else "no checkpoint yet"
                )
                raise TrainingDiverged(
                    f"step {step + 1}: loss is {last_loss} (not finite); training stopped, {kept}"
                )
            step += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.time()
                rec = {
                    "kind": "train",
                    "step": step,
                    "loss": last_loss,
                    "loss_iters": [float(x) for x in np.asarray(per_iter)],
                    "grad_norm": float(gnorm),
                    # Updates skipped so far for a non-finite gradient (see make_optimizer).
                    "skipped_updates": skipped_updates(optimizer),
                    "lr": float(schedule(step)),
                    "equirect": batch.equirect,
                    # The first interval after a (re)start includes compiling the step.
                    "sec_per_step": (now - tick) / max(1, step - tick_step),
                    "wall_time_s": round(wall_before + now - launch, 1),
                }
                tick, tick_step = now, step
                _append_jsonl(metrics_path, rec)
                say(
                    f"step {step}: loss {last_loss:.4f}, grad {float(gnorm):.3f}, {rec['sec_per_step']:.2f} s/step"
                )
            out_of_time = cfg.max_minutes > 0 and time.time() - launch > 60.0 * cfg.max_minutes
            ending = out_of_time or step == stop  # stop is cfg.steps unless stop_step is set
            if vsets and (step % cfg.validation.every == 0 or ending):
                run_validation(step)
            if step % cfg.checkpoint_every == 0 or ending:
                save(step)
            if ending:  # the latest weights, besides the best validated
                meta = dict(run_meta, steps=step, last=True, finished=step == cfg.steps)
                save_weights(workdir / "last.msgpack", model, meta=meta)
            if ending and step < cfg.steps:
                why = (
                    f"stop_step {cfg.stop_step}"
                    if step == stop
                    else f"max_minutes {cfg.max_minutes}"
                )
                say(f"stopping at step {step}: {why} reached (resume to continue)")
                break
    except KeyboardInterrupt:
        # The optimiser's own count, not `step`: an interrupt landing after train_step updated the
        # model but before `step += 1` must not label N + 1 updates as step N.
        done = int(optimizer.step.value)
        if done > start and ckpts.latest_step() != done:  # keep what this launch did
            save(done)
            say(f"interrupted: checkpoint at step {done} (resume to continue)")
        raise
    finally:
        ckpts.close()
    return RunResult(
        workdir, start, step, last_loss, last_val, wall_before + time.time() - launch, model
    )


def export_best(
    workdir: str | Path, path: str | Path, extra_meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Copy the run's best weights to ``path`` (meta extended by ``extra_meta``); returns the meta."""
    src = Path(workdir) / "best.msgpack"
    if not src.is_file():
        raise ViewsynthError(f"{src}: no best weights yet (the run has not validated)")
    meta = read_meta(src)
    if extra_meta:
        model = load_weights(src)
        meta = dict(meta, **extra_meta)
        save_weights(path, model, meta=meta)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(path).with_name(f".{Path(path).name}.part")
        shutil.copyfile(src, tmp)
        tmp.replace(path)
    return meta
