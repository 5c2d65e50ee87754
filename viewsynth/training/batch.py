"""A training batch: triplets of one size and kind stacked, with the network's starting estimate."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.synth import Triplet


@dataclasses.dataclass(frozen=True)
class Batch:
    """A training batch: ``img0``, ``img1``, ``mid`` ``(B, H, W, 3)``, ``t`` ``(B,)``.

    ``init`` is the classical starting estimate (``viewsynth.model.state.Init``; None only in a
    data test's batch made without it); ``equirect`` says whether the frames are whole panoramas
    (static for the model). ``visibility`` ``(B, H, W, 2)``: whether frame 0 and frame 1 see what
    each pixel of ``mid`` sees (``Triplet.visibility``), zeros where a triplet has none, and
    ``visibility_valid`` ``(B,)`` 1 where it has. None for a batch not made by :func:`stack_batch`.
    """

    img0: np.ndarray
    img1: np.ndarray
    mid: np.ndarray
    t: np.ndarray
    init: Any
    equirect: bool
    visibility: np.ndarray | None = None
    visibility_valid: np.ndarray | None = None


def stack_batch(
    triplets: Sequence[Triplet],
    *,
    geometry: bool = False,
    pinhole: bool = False,
    classical_init: bool = True,
) -> Batch:
    """Stack triplets of one size and kind into a :class:`Batch`, with the classical start;
    ``geometry`` (a geometry network's batch) adds each triplet's sphere-sweep candidate (pose and
    depth estimated from its own two frames, as the product does; a triplet without a usable pose
    gets the DIS candidate twice, see :func:`viewsynth.model.init.with_geometry`); ordinary
    images get it only with ``pinhole`` (the pinhole sweep, as the photos network's product
    sweeps a photo: the triplet's ``hfov``, else the assumed 60 degrees).
    ``classical_init=False`` leaves the start out (``init`` None): for tests of the data alone."""
    equirect = {tr.equirect for tr in triplets}
    if len(equirect) != 1:
        raise ViewsynthError("stack_batch: a batch mixes panoramas and ordinary images")
    img0 = np.stack([tr.img0 for tr in triplets]).astype(np.float32)
    img1 = np.stack([tr.img1 for tr in triplets]).astype(np.float32)
    mid = np.stack([tr.mid for tr in triplets]).astype(np.float32)
    t = np.asarray([tr.t for tr in triplets], np.float32)
    seen, seen_valid = _stack_optional([tr.visibility for tr in triplets], (*mid.shape[:3], 2))
    eq = equirect.pop()
    init = None
    if classical_init:
        from viewsynth.model.init import classical_init as compute_init

        init = compute_init(img0, img1, t, equirect=eq)
        if geometry:
            hfovs = [tr.hfov for tr in triplets] if pinhole else None
            init = _with_geometry(init, img0, img1, t, eq, hfovs)
    return Batch(img0, img1, mid, t, init, eq, seen, seen_valid)


def _stack_optional(arrays, shape) -> tuple[np.ndarray, np.ndarray]:
    """``(stacked (B, ...), valid (B,))`` of arrays some triplets lack (None): every batch carries
    the arrays, zeros where missing, so the step has one shape and compiles once."""
    out = np.zeros(shape, np.float32)
    for i, a in enumerate(arrays):
        if a is not None:
            out[i] = a
    return out, np.float32([a is not None for a in arrays])


def _with_geometry(init, img0, img1, t, equirect: bool, hfovs=None):
    """The batch's ``init`` with every pair's geometry candidate (one pair per row), from the
    sweep the network will be given (``Sweep.for_network()``, the shipped settings: 256
    columns; the shipped recipe's 256-wide frames are swept whole either way, a fine-tune's
    512-wide ones at the width the network meets them at). Ordinary images: with ``hfovs`` (per
    row, degrees or None) the pinhole sweep's candidate, as the photos network's product makes
    it; without, the DIS candidate twice, as the default geometry network never meets a photo
    (``rnn.PHOTOS``) and its recipe trained them."""
    import jax

    from viewsynth.interpolators import Sweep
    from viewsynth.model.init import with_geometry

    sweep = Sweep.for_network()
    rows = []
    for i in range(len(t)):
        one = jax.tree.map(lambda a, i=i: a[i : i + 1], init)
        geo = None
        if equirect or hfovs is not None:
            hfov = None if equirect else hfovs[i]
            geo = sweep.candidates(img0[i], img1[i], [float(t[i])], equirect=equirect, hfov=hfov)
        rows.append(with_geometry(one, img0[i], img1[i], geo, equirect=equirect))
    return jax.tree.map(lambda *a: np.concatenate(a), *rows)
