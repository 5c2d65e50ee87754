"""The classical starting estimate of the recurrence: OpenCV DIS flow, warped to t, visibility blend.

``classical_init`` computes, in NumPy, exactly what the ``flow`` interpolator
(:class:`viewsynth.interpolators.Flow`, from :mod:`viewsynth.classical`) uses to make its frame: the two-frame DIS flows (once per
pair, for every t), the flows from the in-between view to each frame (``flow_t0``, ``flow_t1``) and
the visibility weights ``w0 = (1-t) vis0(p + flow_t0) + 1e-4`` and ``w1 = t vis1(p + flow_t1) + 1e-4``,
stored as the fusion logit ``log w0 - log w1`` (so ``sigmoid(logit) = w0 / (w0 + w1)``). A network
with zero-initialised heads started here reproduces the ``flow`` frame. The estimate is an
:class:`~viewsynth.model.state.Init` (one candidate; :func:`with_geometry` adds the sweep's).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from viewsynth.classical import PairFlows, choice_logit, disagreement, estimate_at, pair_flows
from viewsynth.errors import ViewsynthError
from viewsynth.model.state import Candidate, Init
from viewsynth.threads import in_background
from viewsynth.warp import backward_warp


def init_at(flows: PairFlows, times: Sequence[float] | np.ndarray) -> Init:
    """The estimate at each of ``times`` (T,) from a pair's flows: an ``Init`` with B = T."""
    flows0, flows1, logits = [], [], []
    for t in np.asarray(times, dtype=np.float32).reshape(-1).tolist():
        est = estimate_at(flows, t)
        flows0.append(est.flow_t0)
        flows1.append(est.flow_t1)
        logits.append((np.log(est.w0) - np.log(est.w1))[..., None])
    dis = Candidate(
        flow_t0=np.stack(flows0),
        flow_t1=np.stack(flows1),
        logit=np.stack(logits).astype(np.float32),
    )
    return Init(candidates=(dis,))


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
    joined = jax.tree.map(lambda *a: np.concatenate(a), *(p.candidates[0] for p in parts))
    return Init(candidates=(joined,))


#: Choice logit of a pair without usable geometry: the DIS candidate (a copy in both slots).
NO_GEOMETRY_LOGIT = -12.0


def with_geometry(
    init: Init,
    img0: np.ndarray,
    img1: np.ndarray,
    geometry: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
    *,
    equirect: bool,
) -> Init:
    """``init`` (B = T times of one pair ``img0``, ``img1`` (H, W, 3)) with the geometry candidate.

    ``geometry``: per time, the sweep's ``(flow_t0, flow_t1, weight0)`` (``(H, W, 2)``, ``(H, W, 2)``,
    ``(H, W)``, as :func:`viewsynth.sweep.render.flows_at` gives them), or None where the pair has
    no usable pose: the DIS candidate then fills both slots and the choice logit is
    :data:`NO_GEOMETRY_LOGIT`. The choice starts where each candidate's two warped frames agree
    better (:func:`viewsynth.classical.choice_logit`), so a network started here with its heads at
    zero makes that classical fusion of geometry and 2D motion.
    """
    (dis,) = init.candidates
    n = dis.flow_t0.shape[0]
    if geometry is None:
        off = np.full(dis.logit.shape, NO_GEOMETRY_LOGIT, np.float32)
        return Init(candidates=(dis, dis), choice=off)
    if len(geometry) != n:
        raise ViewsynthError(
            f"with_geometry: {n} times need {n} geometry candidates, got {len(geometry)}"
        )

    def disagree(flow_t0, flow_t1):  # how much one candidate's two warped inputs disagree
        w0 = backward_warp(img0, flow_t0, equirect=equirect)
        return disagreement(w0, backward_warp(img1, flow_t1, equirect=equirect), equirect=equirect)

    # every time's two candidates on the shared pool (two cores), DIS's and the geometry's
    dis_jobs = [in_background(disagree, dis.flow_t0[i], dis.flow_t1[i]) for i in range(n)]
    geo_jobs = [in_background(disagree, g0, g1) for g0, g1, _ in geometry]
    choices = [
        choice_logit(g.result(), d.result())[..., None]
        for g, d in zip(geo_jobs, dis_jobs, strict=True)
    ]
    logits = []
    for _, _, weight0 in geometry:
        w0 = np.clip(weight0, 1e-4, 1.0 - 1e-4)
        logits.append(np.log(w0 / (1.0 - w0))[..., None])
    geo = Candidate(
        flow_t0=np.stack([g[0] for g in geometry]).astype(np.float32),
        flow_t1=np.stack([g[1] for g in geometry]).astype(np.float32),
        logit=np.stack(logits).astype(np.float32),
    )
    return Init(candidates=(dis, geo), choice=np.stack(choices).astype(np.float32))
