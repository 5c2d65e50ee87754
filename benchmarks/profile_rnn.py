"""Where the default ``rnn``'s time goes on one street pair: a cProfile of warm calls.

    python benchmarks/profile_rnn.py [--width 1024] [--times 1] [--calls 3] [--top 30] [--pose flow]
        [--min-trials 100] [--sweep work_width=320 ...]

The pair is the speed benchmark's (two held-out street renders with a pose), so the geometry
network runs its whole path: pose, sphere sweep, DIS, the network, fusion at the input size.
Prints seconds per frame next to ``flow``'s on the same pair (the two called in turn, the ratio
taken round by round; medians), then the functions with the most
cumulative time. The network's own compute shows up as ``numpy.asarray`` (it waits there for
JAX's asynchronous results).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
from geometry_budget import knob, over_shipped  # this folder's: the same --sweep NAME=VALUE

from viewsynth import interpolators
from viewsynth.evaluation.speed import street_pair
from viewsynth.interpolators import make_interpolator


def seconds_per_call(interp, img0, img1, times, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        np.asarray(interp(img0, img1, times, equirect=True))
    return (time.perf_counter() - start) / calls


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--times", type=int, default=1, help="in-between times per call")
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--top", type=int, default=30, help="0: no profile")
    parser.add_argument(
        "--pose", choices=interpolators.POSE_SOURCES, default=None,
        help="the network's pose from SIFT or from the pair's DIS flows (default: as shipped)",
    )  # fmt: skip
    parser.add_argument("--min-trials", type=int, default=None, help="RANSAC's least samples")
    parser.add_argument(
        "--sweep", type=knob, action="append", default=[], help="SweepConfig NAME=VALUE"
    )
    args = parser.parse_args(argv)
    interpolators.NETWORK_GEOMETRY["sweep"] = over_shipped(args.sweep)
    if args.pose is not None:
        interpolators.NETWORK_GEOMETRY["pose"] = args.pose
    if args.min_trials is not None:
        interpolators.NETWORK_GEOMETRY["min_trials"] = args.min_trials
    img0, img1 = street_pair(args.width, args.width // 2)
    times = [float(t) for t in np.linspace(0.0, 1.0, args.times + 2)[1:-1]]
    rnn, flow = make_interpolator("rnn"), make_interpolator("flow")
    for interp in (rnn, flow):  # compile and warm up
        seconds_per_call(interp, img0, img1, times, 2)
    pair = rnn.last_pair() if hasattr(rnn, "last_pair") else {}
    print(f"pair: {pair.get('method')}, geometry {pair.get('geometry')} {pair.get('reason', '')}")
    # A B A B ...: the ratio of each round's pair of calls, so a drift of the machine's speed
    # between the two blocks of calls cannot make it; medians quoted
    rounds = [
        (seconds_per_call(rnn, img0, img1, times, 1), seconds_per_call(flow, img0, img1, times, 1))
        for _ in range(args.calls)
    ]
    s_rnn, s_flow = (float(np.median([r[k] for r in rounds])) for k in (0, 1))
    ratio = float(np.median([a / b for a, b in rounds]))
    print(
        f"{args.width}x{args.width // 2}, {len(times)} t per call, median of {args.calls} rounds: "
        f"rnn {s_rnn / len(times):.3f} s per frame, flow {s_flow / len(times):.3f}, "
        f"ratio {ratio:.2f}x (min {min(a / b for a, b in rounds):.2f}, "
        f"max {max(a / b for a, b in rounds):.2f})"
    )
    if args.top <= 0:
        return
    profile = cProfile.Profile()
    profile.enable()
    seconds_per_call(rnn, img0, img1, times, args.calls)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
