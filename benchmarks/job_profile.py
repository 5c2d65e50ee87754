"""Where a frame's time goes in the job: the default's stages, and ``flow``'s, on one pair.

    .venv/bin/python benchmarks/job_profile.py [--width 1024] [--times 7]
    .venv/bin/python benchmarks/job_profile.py --photos ../shared/data/lund/images --hfov 52.6

Two neighbouring panoramas of the shipped sample walk (``samples/fusion_forest``), area-averaged to
``--width``, or with ``--photos DIR`` its first two ordinary photos (sorted names) at ``--width``
(aspect kept) with a horizontal field of view of ``--hfov`` degrees, and the ``--times`` in-between
times the job asks of a pair at ``--factor times + 1``. Each stage runs alone (no overlap with
another), three times after a first call; the table gives its process CPU time (all threads) per
pair or per t, the way the job pays it. The default's stages are those
:meth:`viewsynth.interpolators.RNNInterpolator.frames` runs (photos: its photos network's): DIS and
the pose and depth of the sweep per pair, the network's encoding per pair, then per t the sweep's
candidate, the network's start, its decode at the working size and the fusion at the input size.
The pose is timed as the job pays it: a photo's features found for its pair before are kept
(:func:`viewsynth.geometry.features.match_views`), so photos detect one view per pair and
panoramas (rolled onto each pair's own seam) two.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import jax
import jax.numpy as jnp
import numpy as np

from viewsynth import frames
from viewsynth.classical import candidate_at, pair_flows
from viewsynth.geometry import features
from viewsynth.geometry.features import WORK_WIDTH
from viewsynth.geometry.pinhole import focal_from_hfov
from viewsynth.geometry.pose import relative_pose
from viewsynth.interpolators import Flow, make_interpolator
from viewsynth.interpolators.fit import pad_edges
from viewsynth.model.init import init_at, with_geometry
from viewsynth.sweep import PairCameras, pair_depth, pinhole
from viewsynth.sweep.render import flows_at
from viewsynth.threads import now
from viewsynth.warp import fuse, fuse_fields, resample

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "fusion_forest"


def cpu_ms(fn, per: int = 1, reps: int = 3, setup=None):
    """``(result, CPU ms per call / per)`` after one untimed call (compiles, caches); ``setup``
    runs untimed before each call."""
    setup = setup or (lambda: None)
    setup()
    out = fn()
    spent = 0.0
    for _ in range(reps):
        setup()
        start = time.process_time()
        out = fn()
        spent += time.process_time() - start
    return out, spent / reps / per * 1000.0


def read_pair(ap, args) -> tuple[np.ndarray, np.ndarray, bool]:
    """The pair at ``--width`` and whether it is a pair of panoramas; a folder that cannot give
    two photos, or a field of view outside (0, 180), is refused in one line (``ap.error``)."""
    if args.photos is None:
        names, equirect = [SAMPLE / f"{n}.jpg" for n in ("04", "05")], True
    else:
        folder = Path(args.photos)
        if not folder.is_dir():
            ap.error(f"--photos {folder}: not a folder")
        names = sorted(p for p in folder.iterdir() if p.suffix.lower() in frames.IMAGE_SUFFIXES)
        if len(names) < 2:
            kinds = ", ".join(frames.IMAGE_SUFFIXES)
            ap.error(f"--photos {folder}: needs two photos ({kinds}), found {len(names)}")
        if not 0.0 < args.hfov < 180.0:
            ap.error(f"--hfov {args.hfov:g}: a horizontal field of view in (0, 180) degrees")
        names, equirect = names[:2], False
    a, b = (frames.read_image(n).image for n in names)
    h, w = a.shape[:2]
    size = (args.width, max(1, round(h * args.width / w)))
    return (*(cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (a, b)), equirect)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--times", type=int, default=7)
    ap.add_argument("--photos", default=None, help="a folder of ordinary photos: its first two")
    ap.add_argument("--hfov", type=float, default=60.0, help="the photos' field of view, degrees")
    args = ap.parse_args(argv)
    a, b, equirect = read_pair(ap, args)
    size = (a.shape[1], a.shape[0])
    times = np.float32([(k + 1) / (args.times + 1) for k in range(args.times)])
    n = len(times)
    net = make_interpolator("rnn")
    net = net if equirect or net.photos is None else net.photos
    cw, ch, ww, wh = net.working_size(*size, equirect=equirect)
    c0, c1 = (resample(x, cw, ch, equirect=equirect) for x in (a, b))
    s = net.sweep.settings
    focal = None if equirect else focal_from_hfov(cw, args.hfov)
    rows = []

    start, ms = cpu_ms(lambda: pair_flows(c0, c1, equirect=equirect))
    rows.append(("default", f"DIS at {cw}x{ch}", "pair", ms))

    def seen_before():  # the job's features kept: none of a panorama's, a photo's first view's
        features._kept.clear()
        if not equirect:
            features._view_features(c0, s.pose_width or WORK_WIDTH, False, 8000)

    pose, ms = cpu_ms(
        lambda: relative_pose(
            c0,
            c1,
            equirect=equirect,
            focal_px=focal,
            work_width=s.pose_width or WORK_WIDTH,
            min_trials=s.min_trials,
            seed=s.seed,
        ),  # fmt: skip
        setup=seen_before,
    )
    rows.append(("default", "pose (SIFT, RANSAC)", "pair", ms))
    cams = PairCameras.from_pose(pose)
    if equirect:
        depth, ms = cpu_ms(lambda: pair_depth(c0, c1, cams, s.sweep))
    else:
        depth, ms = cpu_ms(lambda: pinhole.pair_depth(c0, c1, cams, focal, s.sweep))
    rows.append(("default", f"sweep depth at {s.sweep.work_width} columns", "pair", ms))
    j0, j1 = (jnp.asarray(pad_edges(x, ww, wh)[None]) for x in (c0, c1))
    enc, ms = cpu_ms(lambda: jax.block_until_ready(net._encode(net._state, j0, j1, equirect)))
    rows.append(("default", "network encoding", "pair", ms))
    if equirect:
        geo, ms = cpu_ms(lambda: [flows_at(depth, float(t), cw, ch) for t in times], per=n)
    else:  # (the sweep's record of the pair is not needed here)
        net.sweep._last = {}
        geo, ms = cpu_ms(
            lambda: net.sweep._pinhole_candidates(c0, c1, times, depth, now(lambda: start)),
            per=n,
        )  # fmt: skip
    rows.append(("default", "sweep candidate at t", "t", ms))
    init, ms = cpu_ms(
        lambda: with_geometry(init_at(start, times), c0, c1, geo, equirect=equirect), per=n
    )
    rows.append(("default", "the network's start at t", "t", ms))
    init = pad_edges(init, ww, wh)

    def decode():
        out = []
        for i in range(n):
            one = jax.tree.map(lambda x, i=i: x[i : i + 1], init)
            out.append(jax.block_until_ready(net._decode(
                net._state, enc, j0, j1, jnp.asarray(times[i : i + 1]), one,
                equirect=equirect, iters=net.iters, fields=True,
            )))  # fmt: skip
        return out

    fields, ms = cpu_ms(decode, per=n)
    rows.append(("default", f"network decode at {ww}x{wh}", "t", ms))
    top, left = (wh - ch) // 2, (ww - cw) // 2
    crop = (slice(top, top + ch), slice(left, left + cw))
    flows = [np.asarray(f)[0][crop] for f in fields[n // 2][0]]
    weights = np.asarray(fields[n // 2][1])[0][crop]
    _, ms = cpu_ms(lambda: fuse_fields(a, b, flows, weights, equirect=equirect))
    rows.append(("default", f"fusion at {size[0]}x{size[1]}", "t", ms))

    flow = Flow()
    pf, ms = cpu_ms(
        lambda: pair_flows(a, b, equirect=equirect, max_side=flow.max_side, full_size=False)
    )
    rows.append(("flow", "DIS", "pair", ms))

    def flow_frames():  # Flow.frames after its DIS
        for t in times:
            fuse(a, b, [candidate_at(pf, float(t), *size)], equirect=equirect)

    _, ms = cpu_ms(flow_frames, per=n)
    rows.append(("flow", "estimate at t and fusion", "t", ms))

    kind = "panorama" if equirect else f"photo ({args.hfov:g} degrees)"
    print(f"one {size[0]}x{size[1]} {kind} pair, {n} times; CPU ms (all threads)")
    print("| method | stage | per | ms |\n|---|---|---|---:|")
    for method, stage, per, ms in rows:
        print(f"| {method} | {stage} | {per} | {ms:.0f} |")
    for method in ("default", "flow"):
        pair = sum(r[3] for r in rows if r[0] == method and r[2] == "pair")
        each = sum(r[3] for r in rows if r[0] == method and r[2] == "t")
        print(f"{method}: {pair:.0f} ms per pair + {each:.0f} ms per t = "
              f"{pair / n + each:.0f} ms per output frame at --factor {n + 1}")  # fmt: skip


if __name__ == "__main__":
    main()
