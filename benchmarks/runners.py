"""Many captures: wall time of the local runner against the Ray runner, and each worker's model cost.

    .venv/bin/python benchmarks/runners.py [--captures 8] [--frames 5] [--width 512] [--factor 8]
                                           [--method flow|rnn|linear] [--workers 2] [--weights FILE]

Makes ``--captures`` synthetic panoramic captures (the sample photo at ``--width``, shifted a little
more each frame, a different start per capture), then runs each runner in a fresh subprocess, so
both walls include starting Python, imports and (for Ray) starting and stopping a local instance:

- local: ``viewsynth interpolate ROOT -o OUT --runner local`` (one capture after another);
- ray: :func:`viewsynth.runners.ray_runner.run_on_ray` with ``--workers``, which also reports per
  worker the seconds to make the interpolator (load weights) and its first call (JIT compile for
  ``rnn`` plus one pair).

``--method rnn`` without ``--weights`` uses random weights of the default architecture (speed does
not depend on the values; nothing is trained). Prints one JSON report; ``--json FILE`` saves it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from viewsynth import frames

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = ROOT / "samples" / "openvslam" / "equirectangular_image_001.jpg"


def make_captures(root: Path, n_captures: int, n_frames: int, width: int) -> None:
    """``n_captures`` folders of ``n_frames`` panoramas each, every frame distinct."""
    base = frames.resize(frames.read_image(SAMPLE).image, width, width // 2)
    for c in range(n_captures):
        folder = root / f"capture_{c:02d}"
        folder.mkdir(parents=True)
        start = c * width // n_captures
        for i in range(n_frames):
            frames.write_image(folder / f"pano_{i:04d}.png", np.roll(base, start + 3 * i, axis=1))


def random_weights(path: Path) -> None:
    """Weights of the default architecture with random values, drawn in NumPy (no JIT init)."""
    import jax
    from flax import nnx

    from viewsynth.model.network import ModelConfig, Network
    from viewsynth.model.weights import save_weights

    abstract = nnx.eval_shape(lambda: Network(ModelConfig(), rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    rng = np.random.default_rng(0)
    state = jax.tree.map(lambda s: (0.05 * rng.standard_normal(s.shape)).astype(s.dtype), state)
    save_weights(path, nnx.merge(graphdef, state), {"note": "random, for speed measurements"})


def job_flags(args: argparse.Namespace) -> list[str]:
    flags = ["--method", args.method, "--factor", str(args.factor)]
    return flags + (["--weights", str(args.weights)] if args.weights else [])


def run_local(args: argparse.Namespace, root: Path, out: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "viewsynth.pipelines.cli",
        "interpolate",
        str(root),
        "-o",
        str(out),
        "-q",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd + job_flags(args), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"local runner failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    per_capture = [c["seconds"] for c in summary["captures"]]
    return {
        "wall_s": round(wall, 2),
        "statuses": sorted({c["status"] for c in summary["captures"]}),
        "frames": sum(c["frames"] for c in summary["captures"]),
        "capture_s": per_capture,
    }


def run_ray(args: argparse.Namespace, root: Path, out: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-ray", str(root), str(out)]
    cmd += ["--workers", str(args.workers)]
    start = time.perf_counter()
    proc = subprocess.run(cmd + job_flags(args), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("CHILD ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"ray runner failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    child = json.loads(lines[-1][len("CHILD ") :])
    return {"wall_s": round(wall, 2), **child}


def child_ray(args: argparse.Namespace) -> None:
    """In the subprocess: run the Ray runner and print its results and worker costs."""
    from viewsynth.runners.ray_runner import run_on_ray
    from viewsynth.walkthrough import check_output_dir, find_captures, settings_from

    root, out = (Path(p) for p in args.child_ray)
    settings = settings_from(
        None, [], method=args.method, factor=args.factor, weights=args.weights and str(args.weights)
    )
    captures = find_captures(root)
    check_output_dir(out)
    start = time.perf_counter()
    run = run_on_ray(captures, out, settings, workers=args.workers)
    seconds = time.perf_counter() - start
    report = {
        "run_on_ray_s": round(seconds, 2),
        "startup_s": round(run.startup_seconds, 2),
        "statuses": sorted({r.status for r in run.results}),
        "frames": sum(r.frames for r in run.results),
        "capture_s": [round(r.seconds, 3) for r in run.results],
        "workers": [
            {
                "worker": w.worker,
                "captures": len(w.captures),
                "setup_s": round(w.setup_seconds, 3),
                "first_call_s": None
                if w.first_call_seconds is None
                else round(w.first_call_seconds, 3),
                "later_calls_mean_s": round(
                    (w.call_seconds - (w.first_call_seconds or 0.0)) / max(1, w.calls - 1), 3
                ),
                "calls": w.calls,
                "died": w.died,
            }
            for w in run.workers
        ],
    }
    print("CHILD " + json.dumps(report))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--captures", type=int, default=8)
    p.add_argument("--frames", type=int, default=5, help="panoramas per capture")
    p.add_argument("--width", type=int, default=512, help="panorama width (height = width / 2)")
    p.add_argument("--factor", type=int, default=8)
    p.add_argument("--method", choices=("linear", "flow", "rnn"), default="flow")
    p.add_argument("--weights", type=Path, help="rnn: weights file (default: random weights)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", type=Path, help="also save the report here")
    p.add_argument("--child-ray", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_ray:
        child_ray(args)
        return

    with tempfile.TemporaryDirectory(prefix="viewsynth-runners-") as tmp:
        tmp = Path(tmp)
        make_captures(tmp / "captures", args.captures, args.frames, args.width)
        if args.method == "rnn" and args.weights is None:
            args.weights = tmp / "random.msgpack"
            random_weights(args.weights)
        report = {
            "setup": {
                "captures": args.captures,
                "frames_per_capture": args.frames,
                "size": [args.width, args.width // 2],
                "factor": args.factor,
                "method": args.method,
                "workers": args.workers,
                "cpus": os.cpu_count(),
                "load_average_before": [round(x, 2) for x in os.getloadavg()],
            },
            "local": run_local(args, tmp / "captures", tmp / "out_local"),
            "ray": run_ray(args, tmp / "captures", tmp / "out_ray"),
        }
        report["setup"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        report["speedup"] = round(report["local"]["wall_s"] / report["ray"]["wall_s"], 2)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        frames.write_text(args.json, text + "\n")


if __name__ == "__main__":
    main()
