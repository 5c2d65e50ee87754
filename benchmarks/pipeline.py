"""Pipeline cost apart from the interpolator: throughput and peak memory of ``viewsynth interpolate``.

    .venv/bin/python benchmarks/pipeline.py [--width 1024] [--frames 20] [--memory 10 100]

Makes synthetic panoramic captures (the sample photo, shifted a little more each frame, so every
frame differs) and runs the real job with ``--method linear`` in a fresh subprocess per run,
reporting output frames per second and peak resident memory (ru_maxrss of the child). Memory must
not grow with the capture's length: the pipeline streams.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from viewsynth import frames

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = ROOT / "samples" / "openvslam" / "equirectangular_image_001.jpg"


def make_capture(folder: Path, n: int, width: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    base = frames.resize(frames.read_image(SAMPLE).image, width, width // 2)
    for i in range(n):
        frames.write_image(folder / f"pano_{i:04d}.png", np.roll(base, 3 * i, axis=1))


def run(capture: Path, out: Path, factor: int) -> dict:
    """``viewsynth interpolate --method linear`` in a fresh interpreter: its wall time and peak RSS.

    A wrapper interpreter starts the job and reads ``RUSAGE_CHILDREN`` after it, so the peak
    belongs to this one run (ffmpeg encoders are separate, smaller children).
    """
    job = [
        "-m",
        "viewsynth.pipelines.cli",
        "interpolate",
        str(capture),
        "-o",
        str(out),
        "--method",
        "linear",
        "--factor",
        str(factor),
        "-q",
    ]
    code = (
        "import resource, subprocess, sys, time;"
        f"t = time.perf_counter(); subprocess.run([sys.executable, *{job!r}], check=True);"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    )
    seconds, peak_kb = proc.stdout.split()[-2:]
    manifest = json.loads((out / "manifest.json").read_text())
    n_out = sum(len(s["frames"]) for s in manifest["segments"])
    seconds = float(seconds)
    return {
        "frames_in": len(list(capture.iterdir())),
        "frames_out": n_out,
        "seconds": round(seconds, 2),
        "fps": round(n_out / seconds, 1),
        "peak_mb": round(int(peak_kb) / 1024, 1),
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
