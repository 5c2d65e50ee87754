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

from viewsynth import classical, sweep  # noqa: E402
from viewsynth.evaluation.datasets import leave_one_out, render_set  # noqa: E402
from viewsynth.evaluation.metrics import ws_psnr  # noqa: E402
from viewsynth.evaluation.rotation import rc_ws_psnr  # noqa: E402
from viewsynth.geometry.pose import relative_pose  # noqa: E402
from viewsynth.sweep.render import flows_at  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real360_dev"
WALKS = ("gopro_max_garden_a", "gopro_max_garden_b", "gopro_fusion_forest")


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def candidates(a: np.ndarray, b: np.ndarray, t: float) -> dict[str, np.ndarray] | None:
    """``flow``, ``sweep`` and ``fusion`` frames of one pair at t (None: no usable pose)."""
    h, w = a.shape[:2]
    est = classical.estimate_at(classical.pair_flows(a, b, equirect=True), t)
    d0 = classical.backward_warp(a, est.flow_t0, equirect=True)
    d1 = classical.backward_warp(b, est.flow_t1, equirect=True)
    flow = classical.blend(d0, d1, est.w0 / (est.w0 + est.w1))
    pose = relative_pose(a, b, equirect=True)
    if not pose.usable:
        return None
    depth = sweep.pair_depth(a, b, sweep.PairCameras.from_pose(pose))
    g0f, g1f, weight0 = flows_at(depth, t, w, h)
    g0 = classical.backward_warp(a, g0f, equirect=True)
    g1 = classical.backward_warp(b, g1f, equirect=True)
    geo = classical.blend(g0, g1, weight0)
    logit = classical.choice_logit(
        classical.disagreement(g0, g1, equirect=True), classical.disagreement(d0, d1, equirect=True)
    )
    choice = (1.0 / (1.0 + np.exp(-logit)))[..., None]
    return {"flow": flow, "sweep": geo, "fusion": choice * geo + (1.0 - choice) * flow}


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
            frames = candidates(a, b, s.t)
            if frames is None:
                print(f"{name} {s.name}: no usable pose, skipped")
                continue
            for k, v in frames.items():
                scores.setdefault(k, []).append((ws_psnr(_u8(v), gt), rc_ws_psnr(_u8(v), gt)))
        row = "  ".join(
            f"{k} {np.mean([x[0] for x in v]):.2f} / {np.mean([x[1] for x in v]):.2f}"
            for k, v in scores.items()
        )
        print(f"{name} ({len(scores.get('flow', []))} triplets; WS-PSNR / rc-WS-PSNR): {row}")


if __name__ == "__main__":
    main()
