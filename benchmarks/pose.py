"""Relative pose: pycolmap against PoseLib on the same SIFT matches, on renders and real 360 pairs.

    .venv/bin/python benchmarks/pose.py [--pairs 12] [--width 1024] [--real]

Renders: street pairs from ``viewsynth.synth.street_scene`` (seeds 5000.., the scene's own camera
path: 0.5-4 m forward with drift and yaw jitter, plus a common tilt so the rotation is not a pure
yaw), at ``--width``; the true pose comes from the render's positions and yaws. Real: consecutive
shots of ``../shared/data/real360_dev/`` (no ground truth: inlier ratio, time, and the angle between
the two libraries' answers). Estimators, each on the matches of ``geometry.features.match_views``:

- ``pycolmap-rays``: ``pycolmap.estimate_relative_pose`` on unit bearings + ``refine_relative_pose``
  (the product's, ``geometry.pose.estimate_pycolmap``), threshold ``MAX_ERROR_PX`` (0.7) working pixels as an angle.
- ``pycolmap-equirect``: ``pycolmap.estimate_essential_matrix`` on pixels with COLMAP's
  ``EQUIRECTANGULAR`` camera (pixel centres at +0.5, y down), threshold 1 px.
- ``poselib-hemisphere``: ``poselib.estimate_relative_pose`` (LO-RANSAC + bundle) with a unit
  pinhole; PoseLib 2.0.5 has no spherical camera and its generalized solver degenerates on a central
  rig, so it sees only matches in front of both cameras (z > 0.1), as normalised coordinates.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewsynth.frames import read_image  # noqa: E402
from viewsynth.geometry import rotate_pitch_yaw  # noqa: E402
from viewsynth.geometry.features import match_views  # noqa: E402
from viewsynth.geometry.pose import (  # noqa: E402
    MAX_ERROR_PX,
    estimate_pycolmap,
    relative_pose,
    rotation_angle_deg,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real360_dev"
FLIP = np.diag([1.0, -1.0, 1.0])
PITCH = 0.08


def pycolmap_equirect(m):
    import pycolmap

    w, h = m.size
    cam = pycolmap.Camera(model="EQUIRECTANGULAR", width=w, height=h, params=[w, h])
    opt = pycolmap.RANSACOptions()
    opt.max_error, opt.random_seed = 1.0, 0
    r = pycolmap.estimate_essential_matrix(m.xy0 + 0.5, m.xy1 + 0.5, cam, cam, opt)
    if r is None:
        return None
    pose = r["cam2_from_cam1"]
    t = FLIP @ np.asarray(pose.translation)
    return FLIP @ pose.rotation.matrix() @ FLIP, t / np.linalg.norm(t), int(r["num_inliers"])


def poselib_hemisphere(m):
    import poselib

    d0, d1 = m.d0 @ FLIP, m.d1 @ FLIP
    sel = (d0[:, 2] > 0.1) & (d1[:, 2] > 0.1)
    if sel.sum() < 5:
        return None
    x0, x1 = d0[sel, :2] / d0[sel, 2:], d1[sel, :2] / d1[sel, 2:]
    cam = poselib.Camera("PINHOLE", [1.0, 1.0, 0.0, 0.0], 2, 2)
    pixel = 2 * np.pi / m.size[0]
    pose, info = poselib.estimate_relative_pose(
        x0, x1, cam, cam, {"max_epipolar_error": pixel, "seed": 0}, {}
    )
    t = FLIP @ np.asarray(pose.t)
    return FLIP @ pose.R @ FLIP, t / max(np.linalg.norm(t), 1e-12), int(info["num_inliers"])


def pycolmap_rays(m):
    found = estimate_pycolmap(m.d0, m.d1, MAX_ERROR_PX * 2 * np.pi / m.size[0])
    return None if found is None else (found[0], found[1], int(found[2].sum()))


METHODS = {
    "pycolmap-rays": pycolmap_rays,
    "pycolmap-equirect": pycolmap_equirect,
    "poselib-hemisphere": poselib_hemisphere,
}
try:  # PoseLib is not a dependency of the project: `pip install poselib==2.0.5` to compare
    import poselib  # noqa: F401
except ImportError:
    del METHODS["poselib-hemisphere"]


def timed(fn, m):
    t0 = time.perf_counter()
    out = fn(m)
    return out, time.perf_counter() - t0


def tdeg(a, b):
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def renders(n: int, width: int):
    from viewsynth.synth import make_textures, render_views, street_scene

    tex = make_textures(5000)
    for seed in range(5000, 5000 + n):
        scene, path = street_scene(seed, tex.count)
        p0, p1 = path.pos0.astype(np.float64), path.pos1.astype(np.float64)
        views = render_views(
            scene,
            tex,
            np.stack([p0, p1]),
            np.array([path.yaw0, path.yaw1]),
            width=width,
            height=width // 2,
            pitch=PITCH,
        )
        a0 = rotate_pitch_yaw(np.eye(3), PITCH, path.yaw0).T
        a1 = rotate_pitch_yaw(np.eye(3), PITCH, path.yaw1).T
        t = a1.T @ (p0 - p1)
        yield seed, float(np.linalg.norm(p1 - p0)), views, a1.T @ a0, t / np.linalg.norm(t)


def bench_renders(n: int, width: int) -> None:
    rows = {k: [] for k in METHODS}
    match_s = []
    print(f"renders {width}x{width // 2}: seed, baseline m, matches, then per method rot/trans deg")
    for seed, base, views, rot, t in renders(n, width):
        t0 = time.perf_counter()
        m = match_views(views[0], views[1], equirect=True, focal_px=None)
        match_s.append(time.perf_counter() - t0)
        line = [f"{seed} {base:4.2f}m {len(m.d0):4d}"]
        for name, fn in METHODS.items():
            out, dt = timed(fn, m)
            if out is None:
                rows[name].append((180.0, 180.0, dt, 0))
                line.append(f"{name}: none")
                continue
            er, et = rotation_angle_deg(rot, out[0]), tdeg(out[1], t)
            rows[name].append((er, et, dt, out[2]))
            line.append(f"{name}: {er:.3f}/{et:.2f} ({out[2]})")
        print("  " + "  ".join(line))
    print(f"matching (SIFT, both views): median {np.median(match_s):.3f} s per pair")
    print("method              rot err deg (median, max)  trans err deg (median, max)  s/pair")
    for name, r in rows.items():
        a = np.array(r)
        print(
            f"{name:20s} {np.median(a[:, 0]):7.3f} {a[:, 0].max():7.3f}"
            f"          {np.median(a[:, 1]):7.2f} {a[:, 1].max():7.2f}"
            f"          {np.median(a[:, 2]):.4f}"
        )


def bench_real() -> None:
    if not DATA.is_dir():
        print(f"real: {DATA} not found, skipped")
        return
    stats = {k: [] for k in METHODS}
    agree, usable, match_s, total_s = [], [], [], []
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        shots = sorted(folder.glob("*.jpg"))
        for a, b in zip(shots, shots[1:], strict=False):
            img0, img1 = read_image(a).image, read_image(b).image
            t0 = time.perf_counter()
            m = match_views(img0, img1, equirect=True, focal_px=None)
            match_s.append(time.perf_counter() - t0)
            outs = {}
            for name, fn in METHODS.items():
                out, dt = timed(fn, m)
                outs[name] = out
                stats[name].append(((0 if out is None else out[2]) / max(len(m.d0), 1), dt))
            c, p = outs["pycolmap-rays"], outs.get("poselib-hemisphere")
            if c is not None and p is not None:
                agree.append((rotation_angle_deg(c[0], p[0]), tdeg(c[1], p[1])))
            t0 = time.perf_counter()
            pose = relative_pose(img0, img1, equirect=True)
            total_s.append(time.perf_counter() - t0)
            usable.append(pose.usable)
            print(f"  {folder.name}/{a.stem}-{b.stem}: {len(m.d0)} matches, {pose.record()}")
    print(f"real360_dev: {len(usable)} consecutive pairs, {sum(usable)} usable")
    print(
        f"matching median {np.median(match_s):.3f} s; relative_pose median {np.median(total_s):.3f} s"
    )
    for name, r in stats.items():
        a = np.array(r)
        print(
            f"{name:20s} inlier ratio median {np.median(a[:, 0]):.2f}  s/pair {np.median(a[:, 1]):.4f}"
        )
    if not agree:
        return
    g = np.array(agree)
    print(
        f"pycolmap-rays vs poselib-hemisphere: rotation median {np.median(g[:, 0]):.2f} deg, "
        f"translation median {np.median(g[:, 1]):.1f} deg, max {g[:, 1].max():.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--real", action="store_true", help="also the real360_dev pairs")
    args = ap.parse_args()
    bench_renders(args.pairs, args.width)
    if args.real:
        bench_real()


if __name__ == "__main__":
    main()
