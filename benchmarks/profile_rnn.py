"""Where the default ``rnn``'s time goes on one street pair: a cProfile of warm calls.

    python benchmarks/profile_rnn.py [--width 1024] [--times 1] [--calls 3] [--top 30]

The pair is the speed benchmark's (two held-out street renders with a pose), so the geometry
network runs its whole path: pose, sphere sweep, DIS, the network, fusion at the input size.
Prints seconds per call next to ``flow``'s on the same pair, then the functions with the most
cumulative time. The network's own compute shows up as ``numpy.asarray`` (it waits there for
JAX's asynchronous results).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np

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
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    img0, img1 = street_pair(args.width, args.width // 2)
    times = [float(t) for t in np.linspace(0.0, 1.0, args.times + 2)[1:-1]]
    rnn, flow = make_interpolator("rnn"), make_interpolator("flow")
    for interp in (rnn, flow):  # compile and warm up
        seconds_per_call(interp, img0, img1, times, 2)
    pair = rnn.last_pair() if hasattr(rnn, "last_pair") else {}
    print(f"pair: {pair.get('method')}, geometry {pair.get('geometry')} {pair.get('reason', '')}")
    s_rnn = seconds_per_call(rnn, img0, img1, times, args.calls)
    s_flow = seconds_per_call(flow, img0, img1, times, args.calls)
    print(
        f"{args.width}x{args.width // 2}, {len(times)} t per call: rnn {s_rnn / len(times):.3f} s "
        f"per frame, flow {s_flow / len(times):.3f} ({s_rnn / s_flow:.2f}x)"
    )
    profile = cProfile.Profile()
    profile.enable()
    seconds_per_call(rnn, img0, img1, times, args.calls)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
