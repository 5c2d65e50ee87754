"""Pipeline cost apart from the interpolator: throughput and peak memory of ``viewsynth interpolate``.

    .venv/bin/python benchmarks/pipeline.py [--width 1024] [--frames 20] [--memory 10 100]

Makes synthetic panoramic captures (the sample photo, shifted a little more each frame, so every
frame differs) and runs the real job with ``--method linear`` in a fresh subprocess per run,
reporting output frames per second and peak resident memory (ru_maxrss of the child). Memory must
not grow with the capture's length: the pipeline streams. ``make benchmark`` times the same job
per output frame on real captures, each method less this ``--method linear`` run
(``viewsynth.evaluation.job``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from viewsynth import frames
from viewsynth.evaluation.job import run_interpolate

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = ROOT / "samples" / "openvslam" / "equirectangular_image_001.jpg"


def make_capture(folder: Path, n: int, width: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    base = frames.resize(frames.read_image(SAMPLE).image, width, width // 2)
    for i in range(n):
        frames.write_image(folder / f"pano_{i:04d}.png", np.roll(base, 3 * i, axis=1))


def run(capture: Path, out: Path, factor: int) -> dict:
    """``viewsynth interpolate --method linear`` in a fresh interpreter: its wall time and peak RSS
    (``viewsynth.evaluation.job.run_interpolate``, which ``make benchmark`` times the job with)."""
    result = run_interpolate(capture, out, "linear", factor)
    return {
        "frames_in": len(list(capture.iterdir())),
        "frames_out": result["frames"],
        "seconds": round(result["seconds"], 2),
        "fps": round(result["frames"] / result["seconds"], 1),
        "peak_mb": round(result["peak_mib"], 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--factor", type=int, default=8)
    p.add_argument("--memory", type=int, nargs="*", default=[10, 100])
    args = p.parse_args()
    results = {"width": args.width, "factor": args.factor}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_capture(tmp / "c", args.frames, args.width)
        results["throughput"] = run(tmp / "c", tmp / "o", args.factor)
        for n in args.memory:
            make_capture(tmp / f"m{n}", n, args.width)
            results[f"memory_{n}_frames"] = run(tmp / f"m{n}", tmp / f"mo{n}", args.factor)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
