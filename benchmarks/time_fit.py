"""Where along the path was the real middle frame? Score each method over a grid of in-between times.

Leave-one-out on a real walk asks for the view at t = 0.5, but a walker's position at the middle
shot is chance (steps of uneven length, a pause), as the camera's orientation is. A method that
renders the view at the right place sharply is charged for the place; a blurred blend is charged
less. This probe scores each method's output at every t of a grid against the one true middle
frame (rc-WS-PSNR), and prints the score at t = 0.5, the best t and the best score, per sample and
on average. It measures the protocol, not a method: the benchmark keeps t = 0.5.

    .venv/bin/python benchmarks/time_fit.py ../shared/data/real360_dev/gopro_max_garden_b \\
        --gap 2 --every 3 --methods flow sweep [--weights W.msgpack] [--times 0.3 0.4 0.5 0.6 0.7]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from viewsynth import frames
from viewsynth.evaluation.datasets import open_dataset
from viewsynth.evaluation.rotation import rc_ws_psnr
from viewsynth.interpolators import make_interpolator


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("folder")
    p.add_argument("--gap", type=int, default=1)
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--methods", nargs="+", default=["flow", "sweep"])
    p.add_argument("--weights", default=None, help="rnn weights")
    p.add_argument("--iters", type=int, default=1, help="rnn iterations")
    p.add_argument("--times", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    args = p.parse_args(argv)
    times = sorted(args.times)
    if 0.5 not in times:
        raise SystemExit("--times must include 0.5 (the protocol's time)")
    dataset = open_dataset(args.folder, every=args.every, gap=args.gap)
    samples = list(dataset.samples())
    results = {}
    for method in args.methods:
        opts = {"weights": args.weights, "iters": args.iters} if method == "rnn" else {}
        interp = make_interpolator(method, **opts)
        rows = []
        for s in samples:
            outs = interp(s.img0, s.img1, times, equirect=s.equirect)
            scores = [rc_ws_psnr(frames.to_uint8(o), s.gt) for o in outs]
            best = int(np.argmax(scores))
            rows.append((s.name, scores[times.index(0.5)], times[best], scores[best]))
            print(f"{method:6s} {s.name}: t=0.5 {rows[-1][1]:.2f}, best t={times[best]:.2f} "
                  f"{scores[best]:.2f}  ({' '.join(f'{v:.2f}' for v in scores)})")  # fmt: skip
        half, best = np.mean([r[1] for r in rows]), np.mean([r[3] for r in rows])
        print(f"{method:6s} mean: t=0.5 {half:.2f}, best t per sample {best:.2f}")
        results[method] = {"t05": float(half), "best_t": float(best), "samples": rows}
    print(json.dumps({"times": times, "results": results}))


if __name__ == "__main__":
    main()
