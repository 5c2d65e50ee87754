"""Speed and memory of ``--method sweep`` (and of a network) beside ``flow``, in the same run.

    nice .venv/bin/python benchmarks/sweep_speed.py [--out reports/sweep_speed.json] [--pairs 3]
        [--weights FILE [--iters K]]

With ``--weights`` the network in FILE runs too, as ``--method rnn --weights FILE`` does (a
geometry network with the sweep as its second candidate), timed and measured the same way.

Speed: held-out street panoramas (``viewsynth.synth``) at 1024x512, ``--factor 8`` (7 in-between
t per pair); per output frame, the whole call of each interpolator (sweep: pose, both depths and 7
renders, divided by 7), flow and sweep alternating pair by pair, median over pairs after one
warm-up. Memory: a fresh process (no JAX imported) runs sweep on one 5760x2880 pair (a render
resized up, so the pose still holds) at t = 0.5 and at the 7 t of factor 8, and reports its peak
resident memory (VmHWM, see ``viewsynth.evaluation.speed``). The load average is recorded: the CPU
may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import sys, numpy as np, cv2
from viewsynth.interpolators import make_interpolator
from viewsynth.evaluation.speed import peak_rss_mib
a, b = (cv2.resize(np.load(p), (5760, 2880), interpolation=cv2.INTER_CUBIC) for p in sys.argv[1:3])
times = [float(x) for x in sys.argv[3].split(",")]
method, weights, iters = sys.argv[4], sys.argv[5] or None, int(sys.argv[6]) or None
interp = make_interpolator(method, weights=weights, iters=iters)
out = interp(a, b, times, equirect=True)
print(peak_rss_mib(), interp.last_pair().get("method", method), out.shape)
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("reports/sweep_speed.json"))
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--weights", help="also time this network (--method rnn --weights FILE)")
    p.add_argument("--iters", type=int, default=0, help="the network's K (0: its stored one)")
    args = p.parse_args()

    from viewsynth.frames import write_text
    from viewsynth.interpolators import make_interpolator
    from viewsynth.synth import heldout_panoramas

    times = [k / 8 for k in range(1, 8)]
    pairs = heldout_panoramas(args.pairs + 1, 1024, 512)
    methods = {"flow": make_interpolator("flow"), "sweep": make_interpolator("sweep")}
    if args.weights:
        methods["rnn"] = make_interpolator("rnn", weights=args.weights, iters=args.iters or None)
    per = {name: [] for name in methods}
    ran = {name: [] for name in methods if name != "flow"}
    for i, (a, _, b, _) in enumerate(pairs):
        order = list(methods.items())
        for name, interp in order[i % len(order) :] + order[: i % len(order)]:  # round robin
            start = time.perf_counter()
            interp(a, b, times, equirect=True)
            if i:  # the first pair warms up (and compiles)
                per[name].append((time.perf_counter() - start) / len(times))
            pair = interp.last_pair()  # {} where every pair is made the same way (a 2D network)
            if name in ran and pair:
                ran[name].append(pair["method"] + ("+geometry" if pair.get("geometry") else ""))
    seconds = {k: statistics.median(v) for k, v in per.items()}
    result = {
        "size": [1024, 512],
        "factor": 8,
        "weights": args.weights,
        "seconds_per_frame": seconds,
        "ratio_to_flow": {k: v / seconds["flow"] for k, v in seconds.items()},
        "ran": ran,
        "load_average": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(Path(tmp) / f"{k}.npy") for k in (0, 1)]
        np.save(paths[0], pairs[0][0])
        np.save(paths[1], pairs[0][2])
        for name in ran:
            for label, ts in (("t0.5", "0.5"), ("factor8", ",".join(str(t) for t in times))):
                child = [*paths, ts, name, args.weights or "", str(args.iters)]
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, *child], capture_output=True, text=True
                )
                if out.returncode:
                    raise SystemExit(out.stderr)
                peak, method, shape = out.stdout.split(" ", 2)
                result[f"{name}_peak_mib_5760x2880_{label}"] = float(peak)
                result[f"{name}_method_5760x2880_{label}"] = method
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
