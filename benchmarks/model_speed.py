"""Speed and memory of the recurrent network on this machine (random weights are fine for timing).

    .venv/bin/python benchmarks/model_speed.py [--out reports/model_speed.json] [--weights FILE]

Prints and writes JSON with: parameter count; for 1024x512 and K = 1, 2, 4, 8 and for 2048x1024 at
the default K: compile time, GFLOPs per in-between frame (XLA's cost analysis of the compiled
forward), seconds per in-between frame after compile (network alone, one t per pass and four t per
pass sharing the pair's encoding; and the whole ``RNNInterpolator`` call, DIS start and sweep
included); peak resident memory (``ru_maxrss``) of a fresh process interpolating one pair at four
t, at 1024x512, 2048x1024 and 5760x2880 (automatic scale). The machine's load average is recorded
with the timings: the CPU may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from viewsynth.frames import write_text
from viewsynth.interpolators import RNNInterpolator, Sweep
from viewsynth.model import Init, ModelConfig, Network, classical_init, load_weights, with_geometry


def pair(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture and the same moved 1% of the width (DIS has something to find)."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(8, height // 8), max(16, width // 8), 3)).astype(np.float32)
    img0 = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img0 = np.clip(img0, 0.0, 1.0)
    img1 = np.roll(img0, max(1, width // 100), axis=1)
    return img0, img1


def make_model(weights: str | None) -> Network:
    if weights:
        return load_weights(weights)
    return Network(ModelConfig(), rngs=nnx.Rngs(0))


def start(model: Network, img0: np.ndarray, img1: np.ndarray, times: np.ndarray) -> Init:
    """The classical start for one pair at ``times``. A geometry network gets the DIS candidate in
    both slots: the network's cost is the same, and the sweep's is not the network's."""
    init = classical_init(img0, img1, times, equirect=True)
    if model.config.geometry:
        init = with_geometry(init, img0, img1, None, equirect=True)
    return init


def time_network(model: Network, width: int, height: int, iters: int, n_times: int, repeats: int):
    """Compile time, GFLOPs and seconds per in-between frame of the jitted forward."""
    graphdef, state = nnx.split(model)

    def forward(state, img0, img1, t, init):
        net = nnx.merge(graphdef, state)
        enc = net.encode(img0, img1, equirect=True)
        return net.decode(enc, img0, img1, t, equirect=True, iters=iters, init=init).frames[-1]

    a, b = pair(width, height)
    t = np.linspace(0.2, 0.8, n_times, dtype=np.float32)
    args = (
        state,
        jnp.asarray(a[None]),
        jnp.asarray(b[None]),
        jnp.asarray(t),
        start(model, a, b, t),
    )
    begin = time.perf_counter()
    compiled = jax.jit(forward).lower(*args).compile()
    compile_s = time.perf_counter() - begin
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float((cost or {}).get("flops", float("nan")))
    compiled(*args).block_until_ready()
    runs = []
    for _ in range(repeats):
        begin = time.perf_counter()
        compiled(*args).block_until_ready()
        runs.append((time.perf_counter() - begin) / n_times)
    return {
        "size": f"{width}x{height}",
        "iters": iters,
        "times_per_pass": n_times,
        "compile_s": round(compile_s, 2),
        "gflops_per_frame": round(flops / 1e9 / n_times, 2),
        "s_per_frame_median": round(float(np.median(runs)), 4),
        "s_per_frame_best": round(float(np.min(runs)), 4),
    }


def time_interpolator(model: Network, width: int, height: int, n_times: int, repeats: int):
    """Seconds per in-between frame of the whole interpolator call (after a first, compiling call)."""
    interp = RNNInterpolator(model, sweep=Sweep.for_network() if model.config.geometry else None)
    img0, img1 = pair(width, height)
    times = list(np.linspace(0.2, 0.8, n_times))
    start = time.perf_counter()
    interp(img0, img1, times, equirect=True)
    first_s = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        interp(img0, img1, times, equirect=True)
        runs.append((time.perf_counter() - start) / n_times)
    return {
        "size": f"{width}x{height}",
        "iters": interp.iters,
        "times_per_call": n_times,
        "first_call_s": round(first_s, 2),
        "s_per_frame_median": round(float(np.median(runs)), 4),
        "s_per_frame_best": round(float(np.min(runs)), 4),
    }


def memory_child(weights: str | None, width: int, height: int) -> None:
    """Run in a fresh process: interpolate one pair at four t, print peak RSS in MiB as JSON."""
    model = make_model(weights)
    img0, img1 = pair(width, height)
    interp = RNNInterpolator(model, sweep=Sweep.for_network() if model.config.geometry else None)
    start = time.perf_counter()
    out = interp(img0, img1, [0.2, 0.4, 0.6, 0.8], equirect=True)
    seconds = time.perf_counter() - start
    work = interp.working_size(width, height, equirect=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    print(
        json.dumps(
            {
                "size": f"{width}x{height}",
                "working_size": f"{work[2]}x{work[3]}",
                "peak_rss_mib": round(peak_mib, 1),
                "seconds_first_call": round(seconds, 2),
                "finite": bool(np.isfinite(out).all()),
            }
        )
    )


def memory(weights: str | None, width: int, height: int) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", str(width), str(height)]
    if weights:
        cmd += ["--weights", weights]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"size": f"{width}x{height}", "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def size_arg(text: str) -> tuple[int, int]:
    """``WxH`` -> ``(W, H)``, both multiples of 8 (argparse reports anything else in one line)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 2048x1024") from None
    if width < 8 or height < 8 or width % 8 or height % 8:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be multiples of 8")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/model_speed.json", help="JSON written here")
    parser.add_argument("--weights", default=None, help="weights file (default: random init)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per setting")
    parser.add_argument("--quick", action="store_true", help="1024x512 at the default K only")
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=size_arg,
        metavar="WxH",
        help="only these sizes, at the default K: network and whole interpolator (e.g. on a GPU: "
        "--sizes 2048x1024 3840x1920 --no-memory)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.weights, *args.memory_child)
        return 0

    model = make_model(args.weights)
    k = model.config.iters
    params = sum(int(x.size) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    report: dict = {
        "parameters": params,
        "config": model.config.to_dict(),
        "cpu_count": os.cpu_count(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "network": [],
        "interpolator": [],
        "memory": [],
    }

    def log(entry):
        print(json.dumps(entry), flush=True)
        return entry

    if args.sizes:
        chosen = args.sizes
        settings = [(w, h, k, n) for w, h in chosen for n in (1, 4)]
        whole = [(w, h, n) for w, h in chosen for n in (1, 4)]
        sizes = chosen
    else:
        settings = [(1024, 512, k, 1)] if args.quick else [(1024, 512, i, 1) for i in (1, 2, 4, 8)]
        settings.append((1024, 512, k, 4))
        if not args.quick:
            settings.append((2048, 1024, k, 1))
        whole = [(1024, 512, 1), (1024, 512, 4)] + ([] if args.quick else [(2048, 1024, 1)])
        sizes = [(1024, 512)] if args.quick else [(1024, 512), (2048, 1024), (5760, 2880)]
    for width, height, iters, n_times in settings:
        report["network"].append(
            log(time_network(model, width, height, iters, n_times, args.repeats))
        )
    for width, height, n_times in whole:
        report["interpolator"].append(
            log(time_interpolator(model, width, height, n_times, max(2, args.repeats // 2)))
        )
    for width, height in [] if args.no_memory else sizes:
        report["memory"].append(log(memory(args.weights, width, height)))
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
