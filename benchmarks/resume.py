"""Kill and re-run: how much of a killed run's work a re-run keeps.

    nice .venv/bin/python benchmarks/resume.py [--panoramas 120] [--size 256] [--method flow]
        [--chunk-frames 240 60] [--kill-at 0.6]

Makes a capture (``--panoramas`` equirect PNGs, ``size x size/2``: the sample panorama
turning 2 px a frame), then for each chunk size runs ``viewsynth interpolate`` on it as a user
would (a fresh process): once clean, timed; once killed with SIGKILL (the whole process group,
ffmpeg included, as the OOM killer or a power cut would) at ``--kill-at`` of the clean time; then
again in the killed run's output folder, timed; then clean once more (the machine's load drifts:
the clean time is the mean of the runs before and after). Prints clean time, time of the kill,
re-run time and re-run / clean, the sizes of the two videos (what smaller pieces cost: a key frame
at the start of each), and checks the re-run's videos have every frame once (the frame count).
The target of issue 18: a kill at 60 % re-runs in at most 50 % of the clean time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from viewsynth import frames

VIDEOS = ("walkthrough_360.mp4", "walkthrough.mp4")
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "openvslam" / "equirectangular_image_001.jpg"


def make_capture(folder: Path, n: int, width: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # the sample's real panorama, turned a little per shot (as benchmarks/runners.py makes its own)
    base = frames.resize(frames.read_image(SAMPLE).image, width, width // 2)
    for k in range(n):
        frames.write_image(folder / f"pano_{k:04d}.png", np.roll(base, 2 * k, axis=1))
    return folder


def command(capture: Path, out: Path, method: str, chunk_frames: int) -> list[str]:
    return [sys.executable, "-m", "viewsynth.pipelines.cli", "interpolate", str(capture),
            "-o", str(out), "--method", method, "-q", "--set", f"chunk_frames={chunk_frames}"]  # fmt: skip


def timed_run(cmd: list[str], kill_after: float | None = None) -> tuple[float, int]:
    """Seconds the command ran and its exit status (``-9`` when killed after ``kill_after`` s)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.perf_counter() - start, proc.returncode


def video_frames(path: Path) -> int:
    return sum(1 for _ in frames.iter_video(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panoramas", type=int, default=120)
    parser.add_argument("--size", type=int, default=256, help="panorama width (height = width/2)")
    parser.add_argument("--method", default="flow")
    parser.add_argument("--chunk-frames", type=int, nargs="+", default=[240, 60])
    parser.add_argument("--kill-at", type=float, default=0.6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="viewsynth-resume-"))
    try:
        capture = make_capture(work / "capture", args.panoramas, args.size)
        print(f"capture: {args.panoramas} panoramas {args.size}x{args.size // 2}, "
              f"--method {args.method}, kill at {args.kill_at:.0%} of the clean time")  # fmt: skip
        print(f"{'chunk_frames':>12} {'clean s':>11} {'kill at s':>9} {'re-run s':>8} {'ratio':>6} "
              f"{'360 KiB':>7} {'flat KiB':>8}")  # fmt: skip
        for chunk in args.chunk_frames:
            clean_out, killed_out = work / f"clean-{chunk}", work / f"killed-{chunk}"
            clean, code = timed_run(command(capture, clean_out, args.method, chunk))
            if code != 0:
                raise SystemExit(f"clean run failed (exit {code})")
            killed, code = timed_run(
                command(capture, killed_out, args.method, chunk), clean * args.kill_at
            )
            if code != -signal.SIGKILL:
                raise SystemExit(
                    f"the run finished before the kill (exit {code}); use more panoramas"
                )
            state = json.loads((killed_out / ".viewsynth-state.json").read_text())
            rerun, code = timed_run(command(capture, killed_out, args.method, chunk))
            if code != 0:
                raise SystemExit(f"re-run failed (exit {code})")
            n = len(json.loads((clean_out / "manifest.json").read_text())["segments"][0]["frames"])
            for name in VIDEOS:
                got = video_frames(killed_out / name)
                if got != n:
                    raise SystemExit(f"{name}: {got} frames after the re-run, {n} clean")
            done = state.get("chunks", {}).get("0", {}).get("done", 0)
            shutil.rmtree(clean_out)
            after, code = timed_run(command(capture, clean_out, args.method, chunk))
            if code != 0:
                raise SystemExit(f"second clean run failed (exit {code})")
            mean = (clean + after) / 2
            kb = [(clean_out / name).stat().st_size // 1024 for name in VIDEOS]
            print(f"{chunk:>12} {clean:5.1f}/{after:5.1f} {killed:9.1f} {rerun:8.1f} "
                  f"{rerun / mean:6.2f} {kb[0]:>7} {kb[1]:>8}   ({n} frames; {done} chunks "
                  f"of {chunk} finished at the kill)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
