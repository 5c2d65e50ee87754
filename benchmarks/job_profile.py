"""Where a frame's time goes in the job: the default's stages, and ``flow``'s, on one panorama pair.

    .venv/bin/python benchmarks/job_profile.py [--width 1024] [--times 7]

Two neighbouring panoramas of the shipped sample walk (``samples/fusion_forest``), area-averaged to
``--width``, and the ``--times`` in-between times the job asks of a pair at ``--factor times + 1``.
Each stage runs alone (no overlap with another), three times after a first call; the table gives
its process CPU time (all threads) per pair or per t, the way the job pays it. The default's stages
are those :meth:`viewsynth.interpolators.RNNInterpolator.frames` runs: DIS and the pose and depth
of the sweep per pair, the network's encoding per pair, then per t the sweep's candidate, the
network's start, its decode at the working size and the fusion at the input size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import jax
import jax.numpy as jnp
import numpy as np

from viewsynth import frames
from viewsynth.classical import candidate_at, pair_flows
from viewsynth.geometry.features import WORK_WIDTH
from viewsynth.geometry.pose import relative_pose
from viewsynth.interpolators import Flow, make_interpolator
from viewsynth.interpolators.fit import pad_edges
from viewsynth.model.init import init_at, with_geometry
from viewsynth.sweep import PairCameras, pair_depth
from viewsynth.sweep.render import flows_at
from viewsynth.warp import fuse, fuse_fields, resample

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "fusion_forest"


def cpu_ms(fn, per: int = 1, reps: int = 3):
    """``(result, CPU ms per call / per)`` after one untimed call (compiles, caches)."""
    out = fn()
    start = time.process_time()
    for _ in range(reps):
        out = fn()
    return out, (time.process_time() - start) / reps / per * 1000.0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--times", type=int, default=7)
    args = ap.parse_args(argv)
    size = (args.width, args.width // 2)
    a, b = (
        cv2.resize(frames.read_image(SAMPLE / f"{n}.jpg").image, size, interpolation=cv2.INTER_AREA)
        for n in ("04", "05")
    )
    times = np.float32([(k + 1) / (args.times + 1) for k in range(args.times)])
    n = len(times)
    net = make_interpolator("rnn")
    cw, ch, ww, wh = net.working_size(*size, equirect=True)
    c0, c1 = (resample(x, cw, ch, equirect=True) for x in (a, b))
    s = net.sweep.settings
    rows = []

    start, ms = cpu_ms(lambda: pair_flows(c0, c1, equirect=True))
    rows.append(("default", f"DIS at {cw}x{ch}", "pair", ms))
    pose, ms = cpu_ms(
        lambda: relative_pose(
            c0,
            c1,
            equirect=True,
            work_width=s.pose_width or WORK_WIDTH,
            min_trials=s.min_trials,
            seed=s.seed,
        )  # fmt: skip
    )
    rows.append(("default", "pose (SIFT, RANSAC)", "pair", ms))
    depth, ms = cpu_ms(lambda: pair_depth(c0, c1, PairCameras.from_pose(pose), s.sweep))
    rows.append(("default", f"sweep depth at {s.sweep.work_width} columns", "pair", ms))
    j0, j1 = (jnp.asarray(pad_edges(x, ww, wh)[None]) for x in (c0, c1))
    enc, ms = cpu_ms(lambda: jax.block_until_ready(net._encode(net._state, j0, j1, True)))
    rows.append(("default", "network encoding", "pair", ms))
    geo, ms = cpu_ms(lambda: [flows_at(depth, float(t), cw, ch) for t in times], per=n)
    rows.append(("default", "sweep candidate at t", "t", ms))
    init, ms = cpu_ms(
        lambda: with_geometry(init_at(start, times), c0, c1, geo, equirect=True), per=n
    )
    rows.append(("default", "the network's start at t", "t", ms))
    init = pad_edges(init, ww, wh)

    def decode():
        out = []
        for i in range(n):
            one = jax.tree.map(lambda x, i=i: x[i : i + 1], init)
            out.append(jax.block_until_ready(net._decode(
                net._state, enc, j0, j1, jnp.asarray(times[i : i + 1]), one,
                equirect=True, iters=net.iters, fields=True,
            )))  # fmt: skip
        return out

    fields, ms = cpu_ms(decode, per=n)
    rows.append(("default", f"network decode at {ww}x{wh}", "t", ms))
    flows = [np.asarray(f)[0] for f in fields[n // 2][0]]
    weights = np.asarray(fields[n // 2][1])[0]
    _, ms = cpu_ms(lambda: fuse_fields(a, b, flows, weights, equirect=True))
    rows.append(("default", f"fusion at {size[0]}x{size[1]}", "t", ms))

    flow = Flow()
    pf, ms = cpu_ms(
        lambda: pair_flows(a, b, equirect=True, max_side=flow.max_side, full_size=False)
    )
    rows.append(("flow", "DIS", "pair", ms))

    def flow_frames():  # Flow.frames after its DIS
        for t in times:
            fuse(a, b, [candidate_at(pf, float(t), *size)], equirect=True)

    _, ms = cpu_ms(flow_frames, per=n)
    rows.append(("flow", "estimate at t and fusion", "t", ms))

    print(f"one {size[0]}x{size[1]} panorama pair, {n} times; CPU ms (all threads)")
    print("| method | stage | per | ms |\n|---|---|---|---:|")
    for method, stage, per, ms in rows:
        print(f"| {method} | {stage} | {per} | {ms:.0f} |")
    for method in ("default", "flow"):
        pair = sum(r[3] for r in rows if r[0] == method and r[2] == "pair")
        each = sum(r[3] for r in rows if r[0] == method and r[2] == "t")
        print(f"{method}: {pair:.0f} ms per pair + {each:.0f} ms per t = "
              f"{pair / n + each:.0f} ms per output frame at --factor {n + 1}")  # fmt: skip


if __name__ == "__main__":
    main()
