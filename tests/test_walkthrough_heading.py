"""The walkthrough's in-between cameras with ``--method sweep`` turn smoothly along a curved walk.

Four panoramas of the ray-cast room of ``test_sweep`` along a path that bends right by 18 degrees
a shot, each held a few degrees off the direction of travel (as a hand-held camera is), with GPS.
The capture wing turns every panorama to the smoothed travel direction; the sweep's in-between
camera turns by slerp(I, R, t). Between consecutive output frames the rotation (measured from the
frames themselves by ``geometry.relative_pose``) must then be a steady fraction of each pair's:
no jump where one pair ends and the next begins. A renderer that kept camera 0's axes for every
t would show no turn inside a pair and the whole turn at the boundary.
"""

from __future__ import annotations

import json
import math

import numpy as np
from capture_fixtures import ORIGIN, offset, write_image
from test_sweep import room_view

from viewsynth import frames
from viewsynth.geometry.pose import relative_pose, rotation_vector_deg
from viewsynth.pipelines.cli import main as cli

FACTOR = 4


def _curved_capture(folder, width: int = 256):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x, z = -2.0, -3.5  # metres: x east, z north (the room's axes; yaw is a compass bearing)
    for k, heading in enumerate([20.0, 38.0, 56.0, 74.0]):
        yaw = heading + rng.uniform(-8.0, 8.0)
        img, _ = room_view((x, 0.0, z), math.radians(yaw), width)
        position = offset(*ORIGIN, x, z)
        write_image(folder / f"shot_{k:02d}.jpg", frames.to_uint8(img), position=position)
        x += 0.8 * math.sin(math.radians(heading))
        z += 0.8 * math.cos(math.radians(heading))
    return folder


def _yaw_deg(img0, img1) -> float:
    """The turn about the vertical between two panoramas (the rotation of their relative pose)."""
    pose = relative_pose(img0, img1, equirect=True)
    return float(rotation_vector_deg(pose.rotation)[1])


def test_sweep_walkthrough_turns_smoothly_across_pair_boundaries(tmp_path):
    capture = _curved_capture(tmp_path / "cap")
    out = tmp_path / "out"
    args = ["interpolate", str(capture), "-o", str(out), "--method", "sweep"]
    assert cli([*args, "--factor", str(FACTOR), "--frames", "-q"]) == 0
    (segment,) = json.loads((out / "manifest.json").read_text())["segments"]
    assert [p["method"] for p in segment["pairs"]] == ["sweep"] * 3  # geometry ran, no fallback
    images = [frames.read_image(p).image for p in sorted((out / "frames").glob("*.png"))]
    assert len(images) == 3 * FACTOR + 1
    steps = np.array([_yaw_deg(a, b) for a, b in zip(images, images[1:], strict=False)])
    per_pair = steps.reshape(3, FACTOR)
    # The walk bends: every step turns, and a pair's steps add up to the pair's own rotation.
    assert np.all(np.abs(steps) > 0.5), steps
    for k, pair in enumerate(segment["pairs"]):
        assert abs(per_pair[k].sum() - pair["pose"]["rotation_deg"][1]) < 0.5, (k, steps)
    # Inside a pair the steps are steady (slerp)...
    inside = per_pair[:, 1:-1]
    assert np.all(np.ptp(per_pair, axis=1) < 0.3), steps
    # ...and the step into each shot and the step out of it look like their pairs' steps.
    for k in (1, 2):
        into, out_of = per_pair[k - 1, -1], per_pair[k, 0]
        lo = min(inside[k - 1].min(), inside[k].min()) - 0.3
        hi = max(inside[k - 1].max(), inside[k].max()) + 0.3
        assert lo <= into <= hi and lo <= out_of <= hi, (k, steps)
