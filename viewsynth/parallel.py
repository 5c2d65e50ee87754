"""Data parallelism inside one process: a batch spread over all local devices with ``jax.sharding``.

    batch  (B, ...)  ── pad to a multiple of D ──► split along the ``data`` axis of a 1-D mesh
    params           ── replicated on each of the D devices
    fn(params, *batch)  jitted (once per input shape and static arguments) ──► outputs (B', ...)
                     ── sliced back to B ──► the caller

Every leaf of the batch (arrays, or pytrees of arrays such as the model's ``Init``) has the same
leading batch axis B. Padding repeats the last item rather than adding zeros, so padded rows are
valid inputs (no t = 0, no empty frame) and cannot produce NaNs; they are discarded afterwards.
With one device the mesh has one entry and the same code path runs unchanged.

For the network, :func:`data_parallel_module` wraps an ``nnx.Module``; a batch of times of one pair
(``RNNInterpolator``) or of many pairs (evaluation) then runs on every device at once::

    forward = data_parallel_module(network, static_argnames=("equirect", "iters"))
    out = forward(img0s, img1s, times, init=init, equirect=True, iters=4)
    # img0s, img1s (B, H, W, 3), times (B,), init an Init with B rows -> Output with B rows

Build the wrapper once (it holds the jitted function and a replicated snapshot of the module's
state) and keep it: a new wrapper compiles again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
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


class DataParallel:
    """``fn(params, *batch, **kwargs)`` with the batch split over the devices of a mesh.

    ``fn`` is a pure function of ``params`` (any pytree, replicated once here) and batched pytrees
    given positionally or by keyword; keyword arguments named in ``static_argnames`` are Python
    values fixed at compile time (e.g. ``equirect``, ``iters``). Calls return ``fn``'s outputs
    (a pytree of arrays with leading axis B) for the B inputs given, whatever the device count.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        params: Any,
        *,
        mesh: Mesh | None = None,
        static_argnames: Sequence[str] = (),
    ):
        self.mesh = data_mesh() if mesh is None else mesh
        self.static_argnames = frozenset(static_argnames)
        self.params = replicate(params, self.mesh)

        def apply(params, args, kwargs, static):
            return fn(params, *args, **kwargs, **dict(static))

        # Static keyword arguments travel as one sorted tuple so that any hashable set of them
        # selects (or compiles) one executable.
        self._apply = jax.jit(apply, static_argnums=3)

    @property
    def n_devices(self) -> int:
        """How many devices share each batch."""
        return int(self.mesh.devices.size)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        static = tuple(sorted((k, v) for k, v in kwargs.items() if k in self.static_argnames))
        batched = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        (args, batched), n = pad_batch((args, batched), self.n_devices)
        args, batched = shard_batch((args, batched), self.mesh)
        return unpad_batch(self._apply(self.params, args, batched, static), n)


def data_parallel_module(
    module: nnx.Module, *, mesh: Mesh | None = None, static_argnames: Sequence[str] = ()
) -> DataParallel:
    """``module(*batch, **kwargs)`` over all devices of ``mesh`` (default: every local device).

    The module's state is copied to every device now: build the wrapper after loading weights.
    """
    graphdef, state = nnx.split(module)

    def forward(state, *args, **kwargs):
        return nnx.merge(graphdef, state)(*args, **kwargs)

    return DataParallel(forward, state, mesh=mesh, static_argnames=static_argnames)


__all__ = [
    "DATA_AXIS",
    "DataParallel",
    "batch_size",
    "data_mesh",
    "data_parallel_module",
    "pad_batch",
    "replicate",
    "shard_batch",
    "unpad_batch",
]
