"""The training run: build the network, resume, step, validate, checkpoint, stop.

A run lives in its work folder::

    <workdir>/config.yaml        the resolved config of the latest launch
    <workdir>/checkpoints/<n>/   Orbax checkpoints after n finished steps (resumed automatically)
    <workdir>/metrics.jsonl      one JSON object per logged step or validation (logbook)
    <workdir>/loss.png           training loss and validation PSNR (model vs classical flow)
    <workdir>/best.msgpack       weights of the best validation so far (the export candidate)
    <workdir>/last.msgpack       weights after the last step, once the run has finished or stopped
                                 at ``max_minutes`` or ``stop_step`` (meta ``finished`` tells which)

Batches are a pure function of ``(seed, step)`` (:class:`~viewsynth.training.sources.TrainingData`),
so a resumed run sees the data it would have seen. A non-finite loss stops the run with
:class:`TrainingDiverged`; checkpoints are only written after finite steps, so the last good one
stays. The pieces: :mod:`~viewsynth.training.config` (the schema), :mod:`~viewsynth.training.step`
(optimiser and jitted step), :mod:`~viewsynth.training.validation`,
:mod:`~viewsynth.training.logbook`, :mod:`~viewsynth.training.prefetch`.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import yaml
from flax import nnx

from viewsynth import config as config_lib
from viewsynth import frames
from viewsynth.errors import ConfigError, ViewsynthError
from viewsynth.model.network import Network
from viewsynth.model.weights import load_weights, read_meta, save_weights
from viewsynth.training import logbook
from viewsynth.training.checkpoint import Checkpoints
from viewsynth.training.config import TrainConfig, check_resume
from viewsynth.training.prefetch import prefetch
from viewsynth.training.sources import Batch, TrainingData, texture_photos
from viewsynth.training.step import (
    device_mesh,
    make_optimizer,
    replicate,
    shard_batch,
    shard_visibility,
    skipped_updates,
    train_step,
)
from viewsynth.training.validation import ValidationSet, score, validate, validation_sets


class TrainingDiverged(ViewsynthError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


# -- the network --------------------------------------------------------------------------------

#: ModelConfig fields that shape no parameter: ``init_weights`` may differ from the run's model in
#: these (the run's values are taken), e.g. to fine-tune at another K.
RUNTIME_MODEL_FIELDS = ("iters",)


def build_model(cfg: TrainConfig) -> Network:
    """A fresh network from ``cfg.model`` or the weights at ``cfg.init_weights``."""
    if not cfg.init_weights:
        return Network(cfg.model, rngs=nnx.Rngs(cfg.seed))
    model = load_weights(cfg.init_weights)
    free = {name: getattr(cfg.model, name) for name in RUNTIME_MODEL_FIELDS}
    if dataclasses.replace(model.config, **free) != cfg.model:
        raise ConfigError(
            f"init_weights {cfg.init_weights}: its model config differs from the run's 'model' section "
            "(copy the weights' config or drop init_weights)"
        )
    model.config = cfg.model
    return model


# -- the run ------------------------------------------------------------------------------------


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


class _Launch:
    """One launch of a run in its work folder: its checkpoints, validation sets, best score, logs.

    Opening it resumes from the newest checkpoint (or starts at ``init_step``).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        model: Network,
        optimizer: nnx.Optimizer,
        schedule: Callable,
        run_meta: dict[str, Any],
        say: Callable[[str], None],
    ):
        self.cfg, self.model, self.optimizer, self.say = cfg, model, optimizer, say
        self.schedule = schedule
        self.workdir = Path(cfg.workdir)
        self.metrics_path = self.workdir / "metrics.jsonl"
        self.run_meta = run_meta
        self.ckpts = Checkpoints(self.workdir / "checkpoints", keep=cfg.keep_checkpoints)
        self.record: dict[str, Any] = {}
        self.start = self.ckpts.latest_step() or 0
        if self.start:
            self.record = self.ckpts.restore(self.start, model, optimizer)
            say(f"resumed from {self.ckpts.directory / str(self.start)} (step {self.start})")
        elif cfg.init_step:
            self.start = cfg.init_step
            say(
                f"starting at step {self.start} of {cfg.steps} from {cfg.init_weights} "
                "(fresh AdamW moments)"
            )
        self.wall_before = float(self.record.get("wall_time_s", 0.0))
        self.best = float(self.record.get("best_score", -math.inf))
        self.vsets: list[ValidationSet] = []
        self.last_val: dict[str, float] = {}
        self.launch = self.tick = time.time()
        self.tick_step = self.start

    def wall_time(self) -> float:
        """Seconds the run has trained, over all its launches."""
        return self.wall_before + time.time() - self.launch

    def out_of_time(self) -> bool:
        return self.cfg.max_minutes > 0 and time.time() - self.launch > 60.0 * self.cfg.max_minutes

    def save(self, step_done: int) -> None:
        record = {"wall_time_s": self.wall_time(), "best_score": self.best}
        self.ckpts.save(step_done, self.model, self.optimizer, record)

    def validate(self, step_done: int) -> None:
        """Score the sets; a new best gain writes ``best.msgpack``; redraw ``loss.png``."""
        self.last_val = validate(self.model, self.vsets, self.cfg.iters)
        gain = score(self.last_val)
        logbook.append_metrics(
            self.metrics_path, {"kind": "val", "step": step_done, **self.last_val, "gain_db": gain}
        )
        self.say(
            f"val step {step_done}: " + ", ".join(f"{k} {v:.2f}" for k, v in self.last_val.items())
        )
        if gain > self.best:
            self.best = gain
            meta = dict(
                self.run_meta,
                steps=step_done,
                validation=self.last_val,
                gain_db=gain,
                wall_time_s=round(self.wall_time(), 1),
                date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            )
            save_weights(self.workdir / "best.msgpack", self.model, meta=meta)
        logbook.plot_curves(self.metrics_path, self.workdir / "loss.png")

    def log_step(self, step: int, loss: float, per_iter, gnorm, equirect: bool, vis=None) -> None:
        now = time.time()
        rec = {
            "kind": "train",
            "step": step,
            "loss": loss,
            "loss_iters": [float(x) for x in np.asarray(per_iter)],
            "grad_norm": float(gnorm),
            # Updates skipped so far for a non-finite gradient (see step.make_optimizer).
            "skipped_updates": skipped_updates(self.optimizer),
            # the rate step ``step``'s update took (optax counts updates from 0: schedule(step - 1))
            "lr": float(self.schedule(step - 1)),
            "equirect": equirect,
            # The first interval after a (re)start includes compiling the step.
            "sec_per_step": (now - self.tick) / max(1, step - self.tick_step),
            "wall_time_s": round(self.wall_before + now - self.launch, 1),
        }
        extra = ""
        if vis is not None:  # the visibility term (cross-entropy where one input sees a pixel)
            rec["vis"] = float(vis)
            extra += f", vis {rec['vis']:.4f}"
        self.tick, self.tick_step = now, step
        logbook.append_metrics(self.metrics_path, rec)
        self.say(
            f"step {step}: loss {loss:.4f}{extra}, grad {float(gnorm):.3f}, "
            f"{rec['sec_per_step']:.2f} s/step"
        )

    def save_last(self, step: int) -> None:
        """The latest weights, besides the best validated."""
        meta = dict(self.run_meta, steps=step, last=True, finished=step == self.cfg.steps)
        save_weights(self.workdir / "last.msgpack", self.model, meta=meta)

    def diverged(self, step: int, loss: float) -> TrainingDiverged:
        good = self.ckpts.latest_step()
        kept = f"last good checkpoint step {good} kept in {self.ckpts.directory}"
        return TrainingDiverged(
            f"step {step}: loss is {loss} (not finite); training stopped, "
            + (kept if good else "no checkpoint yet")
        )

    def save_interrupted(self) -> None:
        # The optimiser's own count, not the loop's: an interrupt landing after train_step updated
        # the model but before the loop counted the step must not label N + 1 updates as step N.
        done = int(self.optimizer.step[...])
        if done > self.start and self.ckpts.latest_step() != done:  # keep what this launch did
            self.save(done)
            self.say(f"interrupted: checkpoint at step {done} (resume to continue)")


def _training_data(cfg: TrainConfig, say: Callable[[str], None]) -> TrainingData:
    """The default data: renders, and the photos and video read now (before JAX starts threads)."""
    # The group cache must hold every batch in flight, so that none is rendered twice.
    in_flight = max(cfg.data_workers, cfg.prefetch)
    data = TrainingData(cfg.data, cfg.seed, in_flight=in_flight, geometry=cfg.model.geometry)
    say(f"data: {', '.join(data.sources)}")
    return data


def _network(cfg: TrainConfig, mesh: jax.sharding.Mesh):
    """``(model, optimizer, schedule)``, placed on the mesh; the optimiser counts global steps."""
    model = build_model(cfg)
    tx, schedule = make_optimizer(cfg.optim, cfg.steps, cfg.init_step)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    # The optimiser counts global steps (checkpoint names, an interrupt's save).
    optimizer.step[...] = jnp.asarray(cfg.init_step, dtype=optimizer.step[...].dtype)
    replicate(model, optimizer, mesh)
    return model, optimizer, schedule


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
    check_resume(cfg, say)
    workdir = Path(cfg.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    frames.write_text(
        workdir / "config.yaml", yaml.safe_dump(config_lib.to_dict(cfg), sort_keys=False)
    )

    # Files first (video decoding forks ffmpeg: do it before JAX starts its thread pools).
    data = _training_data(cfg, say) if batches is None else None
    batches = data.batch if data else batches
    validating = cfg.validation.every > 0
    val_photos: list[np.ndarray] = []
    if validating and cfg.validation.photos:
        val_photos = (
            data.photos if data and data.photos else texture_photos(cfg.data.data_root or None)
        )

    mesh = device_mesh(cfg.data.batch_size)
    say(f"{mesh.devices.size} device(s): {jax.devices()[0].platform}; "
        f"batch {cfg.data.batch_size} split on 'data'")  # fmt: skip
    model, optimizer, schedule = _network(cfg, mesh)
    run_meta = dict(meta or {})
    run_meta.setdefault("data", data.sources if data else "custom batches")
    if cfg.model.geometry:  # the sweep its batches were made with: the product makes the same
        from viewsynth.interpolators.sweep import GeometrySettings

        run_meta.setdefault("geometry", GeometrySettings().record())
        if cfg.data.pinhole_sweep:  # a photos network (rnn: it sweeps ordinary photos itself)
            run_meta.setdefault("photos", True)
    run = _Launch(cfg, model, optimizer, schedule, run_meta, say)
    video_frames = data.video_heldout if data else []
    if validating and cfg.validation.video > 0 and not video_frames:
        say("validation.video: no held-out video frames (shared data absent?): not scored")
    if validating:
        run.vsets = validation_sets(
            cfg.validation,
            val_photos,
            video_frames,
            stride=cfg.model.stride,
            geometry=cfg.model.geometry,
            pinhole=cfg.data.pinhole_sweep,
        )
    run.launch = time.time()  # this launch's clock (max_minutes) starts here

    start = run.start
    stop = min(cfg.steps, cfg.stop_step or cfg.steps)
    if start == cfg.init_step and not run.record and run.vsets:
        # The starting network (untrained with the classical init, it equals `flow`).
        run.validate(start)
    run.tick = time.time()
    last_loss = float("nan")
    step = start
    try:
        for batch in prefetch(batches, start, stop, cfg.prefetch, cfg.data_workers):
            img0, img1, mid, t, init = shard_batch(batch, mesh)
            seen = shard_visibility(batch, mesh) if cfg.loss.visibility_weight > 0 else None
            loss, per_iter, gnorm, seen_term = train_step(
                model, optimizer, img0, img1, mid, t, init, seen,
                equirect=batch.equirect, iters=cfg.iters, loss_cfg=cfg.loss,
            )  # fmt: skip
            last_loss = float(loss)
            if not math.isfinite(last_loss):
                raise run.diverged(step + 1, last_loss)
            step += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                run.log_step(step, last_loss, per_iter, gnorm, batch.equirect, seen_term)
            ending = run.out_of_time() or step == stop  # stop is cfg.steps unless stop_step is set
            if run.vsets and (step % cfg.validation.every == 0 or ending):
                run.validate(step)
            if step % cfg.checkpoint_every == 0 or ending:
                run.save(step)
            if ending:
                run.save_last(step)
            if ending and step < cfg.steps:
                why = (
                    f"stop_step {cfg.stop_step}"
                    if step == stop
                    else f"max_minutes {cfg.max_minutes}"
                )
                say(f"stopping at step {step}: {why} reached (resume to continue)")
                break
    except KeyboardInterrupt:
        run.save_interrupted()
        raise
    finally:
        run.ckpts.close()
    return RunResult(workdir, start, step, last_loss, run.last_val, run.wall_time(), model)


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
        with frames.atomic_write(path, fsync=True) as tmp:
            shutil.copyfile(src, tmp)
    return meta
