"""The `flow` method on large frames: reduced-size analysis against every step at full size.

    .venv/bin/python benchmarks/flow_sizes.py

`Flow` analyses frames larger than `max_side` (1024) at that size: DIS flow, visibility, the flows
at t and the blend weights; only the two warps of the frames and the blend run at full size. This
script compares it with the same method computed with every step at full size (the flows
upsampled first): WS-PSNR against the ground truth on 4 held-out renders at 2048x1024 (seed
1,300,000, not the benchmark's), the PSNR between the two outputs, and seconds per in-between
frame (3 t per pair, best of 2 after a warm-up) at 2048x1024 and 5760x2880.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewsynth.interpolators import (  # noqa: E402
    Flow,
    backward_warp,
    dis_flow,
    flows_to_time,
    visibility,
)
from viewsynth.training import render  # noqa: E402
from viewsynth.training.losses import psnr_uint8  # noqa: E402


def full_size(img0, img1, times, equirect):
    """Every step at the frames' size (the flows upsampled right after DIS)."""
    f01, f10 = dis_flow(img0, img1, equirect=equirect)
    vis0, vis1 = visibility(f01, f10, equirect=equirect), visibility(f10, f01, equirect=equirect)
    out = []
    for t in times:
        ft0, ft1 = flows_to_time(f01, f10, float(t))
        w0 = (1 - t) * backward_warp(vis0, ft0, equirect=equirect) + 1e-4
        w1 = t * backward_warp(vis1, ft1, equirect=equirect) + 1e-4
        a = backward_warp(img0, ft0, equirect=equirect)
        b = backward_warp(img1, ft1, equirect=equirect)
        out.append(np.clip((w0[..., None] * a + w1[..., None] * b) / (w0 + w1)[..., None], 0, 1))
    return np.stack(out)


def seconds_per_frame(fn, n_times=3) -> float:
    fn()
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) / n_times)
    return min(runs)


def main() -> int:
    flow = Flow()
    triplets = render.heldout_panoramas(4, 2048, 1024, seed=1_300_000)
    ref, new, between = [], [], []
    for a, mid, b, t in triplets:
        r = full_size(a, b, [t], True)[0]
        n = flow(a, b, [t], equirect=True)[0]
        ref.append(psnr_uint8(r, mid, equirect=True))
        new.append(psnr_uint8(n, mid, equirect=True))
        between.append(psnr_uint8(n, r, equirect=True))
    print(f"2048x1024 renders, WS-PSNR: full size {np.mean(ref):.3f}, reduced {np.mean(new):.3f}; "
          f"between them {np.min(between):.1f} dB or more")  # fmt: skip
    times = [0.25, 0.5, 0.75]
    for width, height in [(2048, 1024), (5760, 2880)]:
        a = cv2.resize(triplets[0][0], (width, height))
        b = cv2.resize(triplets[0][2], (width, height))
        slow = seconds_per_frame(lambda a=a, b=b: full_size(a, b, times, True))
        fast = seconds_per_frame(lambda a=a, b=b: flow(a, b, times, equirect=True))
        print(f"{width}x{height}: full size {slow:.3f} s/frame, reduced {fast:.3f} s/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
