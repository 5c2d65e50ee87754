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

from viewsynth import geometry
from viewsynth.classical import (
    PairFlows,
    backward_warp,
    choice_logit,
    disagreement,
    estimate_at,
    pair_flows,
)
from viewsynth.errors import ViewsynthError
from viewsynth.threads import in_background


@struct.dataclass
class Init:
    """A starting estimate at full resolution (a pytree; NumPy or JAX arrays).

    ``flow_t0``, ``flow_t1``: (B, H, W, 2) in pixels, x first; ``mask_logit``: (B, H, W, 1), the
    logit of frame 0's fusion weight. The ``geo_*`` fields and ``choice_logit`` (same shapes; see
    :func:`with_geometry`) carry the geometry candidate, or are all None.
    """

    flow_t0: np.ndarray
    flow_t1: np.ndarray
    mask_logit: np.ndarray
    # The geometry candidate (a network with ``ModelConfig.geometry``): the sphere sweep's flows
    # from the in-between view to each frame, its blend logit, and the logit of choosing it over
    # the DIS candidate above. None for a 2D-only network.
    geo_flow_t0: np.ndarray | None = None
    geo_flow_t1: np.ndarray | None = None
    geo_logit: np.ndarray | None = None
    choice_logit: np.ndarray | None = None
    # The pose's confidence (``RelativePose.confidence``, 0 without a usable pose), constant over
    # each row's pixels (B, H, W, 1): an input of a ``ModelConfig.pose_input`` network.
    pose_confidence: np.ndarray | None = None
    # The geometry candidate as a depth (a ``ModelConfig.depth_search`` network, which moves it):
    # the in-between view's inverse depth (B, H, W, 1) and its lookups, ``a`` and ``b`` (B, H, W, 6)
    # (``b`` constant per row): a pixel at inverse depth q looks both frames up along a + q b
    # (:func:`viewsynth.sweep.render.depth_at`). A pair without a pose: q = 0, b = 0, and ``a``
    # looks each pixel up where it is.
    geo_q: np.ndarray | None = None
    geo_a: np.ndarray | None = None
    geo_b: np.ndarray | None = None


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


#: Choice logit of a pair without usable geometry: the DIS candidate (a copy in both slots).
NO_GEOMETRY_LOGIT = -12.0


def with_geometry(
    init: Init,
    img0: np.ndarray,
    img1: np.ndarray,
    geometry: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
    *,
    equirect: bool,
    confidence: float = 0.0,
    depth: bool = False,
) -> Init:
    """``init`` (B = T times of one pair ``img0``, ``img1`` (H, W, 3)) with the geometry candidate.

    ``geometry``: per time, the sweep's ``(flow_t0, flow_t1, weight0)`` (``(H, W, 2)``, ``(H, W, 2)``,
    ``(H, W)``, as :func:`viewsynth.sweep.render.flows_at` gives them), or None where the pair has
    no usable pose: the DIS candidate then fills both slots and the choice logit is
    :data:`NO_GEOMETRY_LOGIT`. The choice starts where each candidate's two warped frames agree
    better (:func:`viewsynth.classical.choice_logit`), so a network started here with its heads at
    zero makes that classical fusion of geometry and 2D motion. ``confidence``: the pose's
    (:attr:`Init.pose_confidence`; taken as 0 without geometry). ``depth``: also the candidate as
    a depth (``Init.geo_q``, ``geo_a``, ``geo_b``; ``geometry.depth``, see
    :meth:`viewsynth.interpolators.Sweep.candidates`).
    """
    n = init.flow_t0.shape[0]
    if geometry is None:
        off = np.full(init.mask_logit.shape, NO_GEOMETRY_LOGIT, np.float32)
        out = init.replace(
            geo_flow_t0=init.flow_t0, geo_flow_t1=init.flow_t1, geo_logit=init.mask_logit,
            choice_logit=off, pose_confidence=np.zeros_like(off),
        )  # fmt: skip
        return _still_depth(out) if depth else out
    if len(geometry) != n:
        raise ViewsynthError(
            f"with_geometry: {n} times need {n} geometry candidates, got {len(geometry)}"
        )

    def disagree(flow_t0, flow_t1):  # how much one candidate's two warped inputs disagree
        w0 = backward_warp(img0, flow_t0, equirect=equirect)
        return disagreement(w0, backward_warp(img1, flow_t1, equirect=equirect), equirect=equirect)

    # every time's two candidates on the shared pool (two cores), DIS's and the geometry's
    dis = [in_background(disagree, init.flow_t0[i], init.flow_t1[i]) for i in range(n)]
    geo = [in_background(disagree, g0, g1) for g0, g1, _ in geometry]
    choices = [
        choice_logit(g.result(), d.result())[..., None] for g, d in zip(geo, dis, strict=True)
    ]
    logits = []
    for _, _, weight0 in geometry:
        w0 = np.clip(weight0, 1e-4, 1.0 - 1e-4)
        logits.append(np.log(w0 / (1.0 - w0))[..., None])
    g0s, g1s = [g[0] for g in geometry], [g[1] for g in geometry]
    out = init.replace(
        geo_flow_t0=np.stack(g0s).astype(np.float32),
        geo_flow_t1=np.stack(g1s).astype(np.float32),
        geo_logit=np.stack(logits).astype(np.float32),
        choice_logit=np.stack(choices).astype(np.float32),
        pose_confidence=np.full(init.mask_logit.shape, confidence, np.float32),
    )
    if not depth:
        return out
    if getattr(geometry, "depth", None) is None or len(geometry.depth) != n:
        raise ViewsynthError("with_geometry: depth asked for, but the candidates carry none")
    h, w = init.mask_logit.shape[1:3]
    return out.replace(
        geo_q=np.stack([q for q, _, _ in geometry.depth])[..., None].astype(np.float32),
        geo_a=np.stack([a for _, a, _ in geometry.depth]).astype(np.float32),
        geo_b=np.stack([np.broadcast_to(b, (h, w, 6)) for _, _, b in geometry.depth]),
    )


def _still_depth(init: Init) -> Init:
    """``init`` with the depth of a pair without geometry: q = 0 and lookups that stay put."""
    n, h, w = init.mask_logit.shape[:3]
    d = geometry.equirect_directions(w, h)  # (h, w, 3), each pixel's own ray
    planes = (d * np.array([-1.0, 1.0, -1.0])).astype(np.float32)  # as (-x, y, -z), twice
    a = np.broadcast_to(np.concatenate([planes, planes], axis=-1), (n, h, w, 6))
    return init.replace(
        geo_q=np.zeros((n, h, w, 1), np.float32),
        geo_a=np.ascontiguousarray(a),
        geo_b=np.zeros((n, h, w, 6), np.float32),
    )
