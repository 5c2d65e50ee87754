"""The geometry network's classical start: per pixel, trust the candidate whose own two warps agree.

    .venv/bin/python benchmarks/fusion_start.py [--width 1024] [--renders]

For each leave-one-out triplet of ``../shared/data/real360_dev`` (gap 1; or, with ``--renders``, the
benchmark's 8 held-out street renders) at ``--width``: the ``flow`` frame (DIS, visibility blend),
the ``sweep`` frame (pose, depth, the geometry at t as flows: ``sweep.render.flows_at``), and their
fusion ``sigmoid(choice_logit) * sweep + (1 - sigmoid) * flow`` where the choice logit is
``viewsynth.classical.choice_logit`` of each candidate's :func:`~viewsynth.classical.disagreement`
(what ``model.init.with_geometry`` gives a network with ``geometry: true``, whose heads at zero make
exactly this frame). Scores: WS-PSNR and rotation-compensated WS-PSNR, mean per walk.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewsynth import classical, frames  # noqa: E402
from viewsynth.evaluation.datasets import leave_one_out, render_set  # noqa: E402
from viewsynth.evaluation.metrics import ws_psnr  # noqa: E402
from viewsynth.evaluation.rotation import rc_ws_psnr  # noqa: E402
from viewsynth.interpolators import Sweep  # noqa: E402
from viewsynth.model.init import init_at, with_geometry  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real360_dev"
WALKS = ("gopro_max_garden_a", "gopro_max_garden_b", "gopro_fusion_forest")


def candidates(a: np.ndarray, b: np.ndarray, t: float) -> dict[str, np.ndarray] | None:
    """``flow``, ``sweep`` and ``fusion`` frames of one pair at t (None: no usable pose), from
    the product's own pieces: the sweep's candidate as the network gets it and the start's
    choice logit (``model.init.with_geometry``)."""
    geo = Sweep().candidates(a, b, [t], equirect=True)
    if geo is None:
        return None
    init = with_geometry(
        init_at(classical.pair_flows(a, b, equirect=True), [t]), a, b, geo, equirect=True
    )
    (g0f, g1f, weight0), logit = geo[0], init.choice_logit[0]
    est_w0 = 1.0 / (1.0 + np.exp(-init.mask_logit[0, ..., 0]))
    warp = classical.backward_warp
    flow = classical.blend(
        warp(a, init.flow_t0[0], equirect=True), warp(b, init.flow_t1[0], equirect=True), est_w0
    )
    geo_frame = classical.blend(warp(a, g0f, equirect=True), warp(b, g1f, equirect=True), weight0)
    choice = 1.0 / (1.0 + np.exp(-logit))
    return {"flow": flow, "sweep": geo_frame, "fusion": choice * geo_frame + (1.0 - choice) * flow}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--renders", action="store_true")
    args = ap.parse_args()
    w = args.width
    if args.renders:
        sets = {"renders 1024x512": render_set(8, 1024, 512)}
    else:
        sets = {walk: leave_one_out(REAL / walk, gap=1) for walk in WALKS}
    for name, dataset in sets.items():
        scores: dict[str, list[tuple[float, float]]] = {}
        for s in dataset.samples():
            a, b = (
                cv2.resize(x, (w, w // 2), interpolation=cv2.INTER_AREA) for x in (s.img0, s.img1)
            )
            gt = cv2.resize(s.gt, (w, w // 2), interpolation=cv2.INTER_AREA)
            outs = candidates(a, b, s.t)
            if outs is None:
                print(f"{name} {s.name}: no usable pose, skipped")
                continue
            for k, v in outs.items():
                scores.setdefault(k, []).append(
                    (ws_psnr(frames.to_uint8(v), gt), rc_ws_psnr(frames.to_uint8(v), gt))
                )
        row = "  ".join(
            f"{k} {np.mean([x[0] for x in v]):.2f} / {np.mean([x[1] for x in v]):.2f}"
            for k, v in scores.items()
        )
        print(f"{name} ({len(scores.get('flow', []))} triplets; WS-PSNR / rc-WS-PSNR): {row}")


if __name__ == "__main__":
    main()
