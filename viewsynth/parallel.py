"""Data parallelism inside one process: a batch spread over all local devices with ``jax.sharding``.

    batch  (B, ...)  ── pad to a multiple of D ──► split along the ``data`` axis of a 1-D mesh
    params           ── replicated on each of the D devices
    jitted fn(params, batch) ──► outputs (B', ...) ── sliced back to B ──► the caller

Every leaf of the batch (arrays, or pytrees of arrays such as the model's ``Init``) has the same
leading batch axis B. Padding repeats the last item rather than adding zeros, so padded rows are
valid inputs (no t = 0, no empty frame) and cannot produce NaNs; they are discarded afterwards.
With one device the mesh has one entry and the same code path runs unchanged. The users: the
network's interpolator (``RNNInterpolator`` splits the times of a pair over the devices) and the
training step (``viewsynth.training.step``: the batch on the mesh, parameters replicated)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from viewsynth.errors import ViewsynthError

DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``data`` over ``devices`` (default: every local device)."""
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ViewsynthError("data_mesh: no devices given")
    return Mesh(np.array(devices), (DATA_AXIS,))


def batch_size(tree: Any) -> int:
    """The common leading-axis length B of every array leaf of ``tree``.

    Raises ``ViewsynthError`` when the tree has no array leaf or the leaves disagree.
    """
    leaves = jax.tree.leaves(tree)
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
    if not leaves or None in sizes:
        raise ViewsynthError("batch: every input must be an array with a leading batch axis")
    if len(sizes) != 1:
        raise ViewsynthError(f"batch: inputs disagree on the batch size ({sorted(sizes)})")
    return sizes.pop()


def pad_batch(tree: Any, multiple: int) -> tuple[Any, int]:
    """``(padded, B)``: every leaf's leading axis grown to a multiple of ``multiple``.

    The added rows repeat the last row. ``B`` is the original size, for :func:`unpad_batch`.
    """
    n = batch_size(tree)
    extra = -n % multiple
    if extra == 0:
        return tree, n

    def pad(x):
        xp = np if isinstance(x, np.ndarray) else jnp
        return xp.concatenate([x, xp.repeat(x[-1:], extra, axis=0)], axis=0)

    return jax.tree.map(pad, tree), n


def unpad_batch(tree: Any, n: int) -> Any:
    """Every leaf's first ``n`` rows (undoes :func:`pad_batch`)."""
    return jax.tree.map(lambda x: x[:n], tree)


def shard_batch(tree: Any, mesh: Mesh) -> Any:
    """Place ``tree`` on ``mesh`` split along the leading axis (a multiple of the mesh size)."""
    sharding = NamedSharding(mesh, P(DATA_AXIS))
    return jax.device_put(tree, sharding)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place a full copy of ``tree`` (parameters) on every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


__all__ = [
    "DATA_AXIS",
    "batch_size",
    "data_mesh",
    "pad_batch",
    "replicate",
    "shard_batch",
    "unpad_batch",
]
