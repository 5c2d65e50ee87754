"""The classical starting estimate of the recurrence: OpenCV DIS flow, warped to t, visibility blend.

``classical_init`` computes, in NumPy, exactly what the ``flow`` interpolator
(:class:`viewsynth.interpolators.Flow`, from :mod:`viewsynth.classical`) uses to make its frame: the two-frame DIS flows (once per
pair, for every t), the flows from the in-between view to each frame (``flow_t0``, ``flow_t1``) and
the visibility weights ``w0 = (1-t) vis0(p + flow_t0) + 1e-4`` and ``w1 = t vis1(p + flow_t1) + 1e-4``,
stored as the fusion logit ``log w0 - log w1`` (so ``sigmoid(logit) = w0 / (w0 + w1)``). A network
with zero-initialised heads started here reproduces the ``flow`` frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flax import struct

from viewsynth.classical import PairFlows, estimate_at, pair_flows
from viewsynth.errors import ViewsynthError


@struct.dataclass
class Init:
    """A starting estimate at full resolution (a pytree; NumPy or JAX arrays).

    ``flow_t0``, ``flow_t1``: (B, H, W, 2) in pixels, x first; ``mask_logit``: (B, H, W, 1), the
    logit of frame 0's fusion weight.
    """

    flow_t0: np.ndarray
    flow_t1: np.ndarray
    mask_logit: np.ndarray


def init_at(flows: PairFlows, times: Sequence[float] | np.ndarray) -> Init:
    """The estimate at each of ``times`` (T,) from a pair's flows: an ``Init`` with B = T."""
    flows0, flows1, logits = [], [], []
    for t in np.asarray(times, dtype=np.float32).reshape(-1).tolist():
        est = estimate_at(flows, t)
        flows0.append(est.flow_t0)
        flows1.append(est.flow_t1)
        logits.append((np.log(est.w0) - np.log(est.w1))[..., None])
    return Init(
        flow_t0=np.stack(flows0),
        flow_t1=np.stack(flows1),
        mask_logit=np.stack(logits).astype(np.float32),
    )


def classical_init(
    img0: np.ndarray, img1: np.ndarray, t: Sequence[float] | np.ndarray, *, equirect: bool
) -> Init:
    """The classical estimate for one pair and many t, or for a batch of pairs.

    One pair: ``img0``, ``img1`` (H, W, 3) float32 in [0, 1] and ``t`` (T,) -> an ``Init`` with
    B = T (the flows of the pair are computed once). A batch: (B, H, W, 3) each and ``t`` (B,), one
    t per pair. NumPy arrays out (float32).
    """
    img0 = np.asarray(img0, dtype=np.float32)
    img1 = np.asarray(img1, dtype=np.float32)
    times = np.asarray(t, dtype=np.float32).reshape(-1)
    if img0.shape != img1.shape or img0.ndim not in (3, 4) or img0.shape[-1] != 3:
        raise ViewsynthError(
            f"classical_init: frames must both be (H, W, 3) or (B, H, W, 3), got {img0.shape} and {img1.shape}"
        )
    if img0.ndim == 3:
        return init_at(pair_flows(img0, img1, equirect=equirect), times)
    if len(times) != img0.shape[0]:
        raise ViewsynthError(
            f"classical_init: {img0.shape[0]} pairs need {img0.shape[0]} times, got {len(times)}"
        )
    parts = [
        init_at(pair_flows(a, b, equirect=equirect), times[i : i + 1])
        for i, (a, b) in enumerate(zip(img0, img1, strict=True))
    ]
    return Init(
        flow_t0=np.concatenate([p.flow_t0 for p in parts]),
        flow_t1=np.concatenate([p.flow_t1 for p in parts]),
        mask_logit=np.concatenate([p.mask_logit for p in parts]),
    )
