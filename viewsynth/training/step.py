"""One optimisation step: the optimiser, the jitted step and forward pass, their device placement.

Data-parallel over all local devices: a batch is sharded on the ``data`` axis of a 1-D mesh
(:mod:`viewsynth.parallel`), parameters and optimiser state are replicated. The step is jitted with
the batch kind (``equirect``), the unrolled iterations and the loss settings static, so a run
compiles it once per batch shape.
"""

from __future__ import annotations

import functools

import jax
import optax
from flax import nnx

from viewsynth import parallel
from viewsynth.errors import ConfigError
from viewsynth.model.network import Network
from viewsynth.model.state import Init
from viewsynth.training import losses
from viewsynth.training.config import LossConfig, OptimConfig
from viewsynth.training.sources import Batch

#: Consecutive updates with a non-finite gradient that are skipped before the run is let to fail.
MAX_SKIPPED_UPDATES = 5


@functools.cache
def make_optimizer(
    cfg: OptimConfig, steps: int, offset: int = 0
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW (decoupled weight decay) after global-norm clipping; warm-up then cosine decay.

    An update whose gradient holds a NaN or an infinity is skipped (the parameters and the
    optimiser's moments stay as they were), up to ``MAX_SKIPPED_UPDATES`` in a row; after that the
    poisoned update goes through, the loss turns non-finite and the run stops with
    :class:`~viewsynth.training.loop.TrainingDiverged`. (A GPU run once stopped at a NaN with a
    finite batch: TRAINING_LOG.md, Run 2.)

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
    return int(total[...]) if total is not None else 0


@nnx.jit(static_argnames=("equirect", "iters", "loss_cfg"))
def train_step(
    model: Network,
    optimizer: nnx.Optimizer,
    img0,
    img1,
    mid,
    t,
    init: Init,
    visibility: tuple | None = None,
    *,
    equirect: bool,
    iters: int,
    loss_cfg: LossConfig,
):
    """One AdamW step on a batch; returns ``(loss, per-iteration frame losses (K,), gradient
    norm, the visibility term or None)``.

    ``visibility``: ``(truth (B, H, W, 2), valid (B,))`` (:func:`shard_visibility`) for the
    visibility loss, or None.
    """

    def loss_fn(model):
        out = model(img0, img1, t, equirect=equirect, iters=iters, init=init)
        loss, per_iter = losses.sequence_loss(
            out.frames,
            mid,
            equirect=equirect,
            gamma=loss_cfg.gamma,
            census_weight=loss_cfg.census_weight,
            census_radius=loss_cfg.census_radius,
            ssim_weight=loss_cfg.ssim_weight,
            mse_weight=loss_cfg.mse_weight,
        )
        seen_term = None
        if visibility is not None:
            masks = [c.mask for c in out.candidates]
            seen_term = losses.visibility_loss(masks, *visibility, equirect=equirect)
            loss = loss + loss_cfg.visibility_weight * seen_term
        return loss, (per_iter, seen_term)

    (loss, aux), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    per_iter, seen_term = aux
    return loss, per_iter, optax.tree.norm(grads), seen_term


@nnx.jit(static_argnames=("equirect", "iters"))
def predict(model: Network, img0, img1, t, init: Init, *, equirect: bool, iters: int):
    """The network's final frame ``(B, H, W, 3)``."""
    return model(img0, img1, t, equirect=equirect, iters=iters, init=init).frames[-1]


def device_mesh(batch_size: int) -> jax.sharding.Mesh:
    """The 1-D ``data`` mesh over every local device; ``batch_size`` must split evenly on it."""
    mesh = parallel.data_mesh()
    if batch_size % mesh.devices.size:
        raise ConfigError(
            f"data.batch_size {batch_size} is not a multiple of the {mesh.devices.size} devices"
        )
    return mesh


def shard_batch(batch: Batch, mesh: jax.sharding.Mesh) -> tuple:
    """``(img0, img1, mid, t, init)`` on the mesh, split along the batch axis."""
    return parallel.shard_batch((batch.img0, batch.img1, batch.mid, batch.t, batch.init), mesh)


def shard_visibility(batch: Batch, mesh: jax.sharding.Mesh) -> tuple | None:
    """``(visibility, visibility_valid)`` of the batch on the mesh, or None when it carries none."""
    if batch.visibility is None:
        return None
    return parallel.shard_batch((batch.visibility, batch.visibility_valid), mesh)


def replicate(model: nnx.Module, optimizer: nnx.Optimizer, mesh: jax.sharding.Mesh) -> None:
    """Place every parameter and optimiser state array on all devices of ``mesh`` (in place)."""
    nnx.update((model, optimizer), parallel.replicate(nnx.state((model, optimizer)), mesh))
