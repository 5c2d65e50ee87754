"""Heading: great-circle distance and bearing, image-based yaw, travel alignment of panoramas."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from capture_fixtures import ORIGIN, SAMPLES, offset, texture, write_image

from viewsynth.capture import CaptureOptions, load_capture
from viewsynth.capture.heading import (
    EARTH_RADIUS,
    align_yaws,
    bearing,
    circular_smooth,
    estimate_yaw,
    haversine,
    odd_tags,
    travel_bearings,
    wrap180,
)
from viewsynth.frames import read_image
from viewsynth.geometry import yaw_roll_columns

SAMPLE = SAMPLES / "openvslam" / "equirectangular_image_001.jpg"


def _unit(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _reference(lat0, lon0, lat1, lon1):
    """Distance and bearing the vector way (independent of the haversine/atan2 formulas)."""
    a, b = _unit(lat0, lon0), _unit(lat1, lon1)
    dist = EARTH_RADIUS * np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), (a * b).sum(-1))
    north = np.stack([-np.sin(np.radians(lat0)) * np.cos(np.radians(lon0)),
                      -np.sin(np.radians(lat0)) * np.sin(np.radians(lon0)),
                      np.cos(np.radians(lat0))], axis=-1)  # fmt: skip
    east = np.cross(north, a)
    d = b - a
    brg = np.degrees(np.arctan2((d * east).sum(-1), (d * north).sum(-1))) % 360.0
    return dist, brg


def test_haversine_known_values():
    degree = EARTH_RADIUS * math.pi / 180.0
    assert haversine(0.0, 0.0, 1.0, 0.0) == pytest.approx(degree, rel=1e-12)
    assert haversine(0.0, 0.0, 0.0, 1.0) == pytest.approx(degree, rel=1e-12)
    assert haversine(0.0, 10.0, 90.0, -70.0) == pytest.approx(90 * degree, rel=1e-12)
    assert haversine(52.5, 13.4, 52.5, 13.4) == 0.0
    # Wikipedia's great-circle example: Valparaiso -> Shanghai spans 168.56 degrees of arc.
    arc = haversine(-33.0, -71.6, 31.4, 121.8) / EARTH_RADIUS
    assert math.degrees(arc) == pytest.approx(168.56, abs=0.01)


def test_bearing_known_values():
    assert bearing(0.0, 0.0, 1.0, 0.0) == pytest.approx(0.0)
    assert bearing(0.0, 0.0, 0.0, 1.0) == pytest.approx(90.0)
    assert bearing(0.0, 0.0, -1.0, 0.0) == pytest.approx(180.0)
    assert bearing(0.0, 0.0, 0.0, -1.0) == pytest.approx(270.0)
    # Valparaiso -> Shanghai leaves at -94.41 degrees (Wikipedia, great-circle navigation).
    assert bearing(-33.0, -71.6, 31.4, 121.8) == pytest.approx(360.0 - 94.41, abs=0.01)


def test_distance_and_bearing_match_a_vector_reference():
    rng = np.random.default_rng(0)
    lat0, lat1 = rng.uniform(-80, 80, 200), rng.uniform(-80, 80, 200)
    lon0, lon1 = rng.uniform(-180, 180, 200), rng.uniform(-180, 180, 200)
    ref_dist, ref_brg = _reference(lat0, lon0, lat1, lon1)
    np.testing.assert_allclose(haversine(lat0, lon0, lat1, lon1), ref_dist, rtol=1e-9, atol=1e-6)
    # Initial bearing = direction of the chord's projection on the local tangent plane.
    np.testing.assert_allclose(wrap180(bearing(lat0, lon0, lat1, lon1) - ref_brg), 0.0, atol=1e-7)
    # Street scale: 7 m north-east of Lund.
    lat, lon = offset(*ORIGIN, 7.0 / math.sqrt(2), 7.0 / math.sqrt(2))
    assert haversine(*ORIGIN, lat, lon) == pytest.approx(7.0, rel=1e-6)
    assert bearing(*ORIGIN, lat, lon) == pytest.approx(45.0, abs=1e-3)


def test_wrap_and_circular_smoothing():
    np.testing.assert_allclose(
        wrap180([-190.0, 190.0, 180.0, -180.0, 720.0]), [170, -170, 180, 180, 0]
    )
    # 359 and 1 smooth to 0, not to 180.
    smoothed = circular_smooth([359.0, 1.0, 359.0, 1.0], sigma=5.0)
    assert np.all(np.abs(wrap180(smoothed)) < 1.0)
    np.testing.assert_allclose(circular_smooth([30.0] * 6, sigma=2.0), 30.0)
    step = circular_smooth([0.0] * 5 + [90.0] * 5, sigma=1.5)
    assert np.all(np.diff(step) >= 0) and step[0] < 1.0 and step[-1] > 89.0
    np.testing.assert_allclose(circular_smooth([10.0, 50.0], sigma=0.0), [10.0, 50.0])


def _panorama() -> np.ndarray:
    if SAMPLE.is_file():
        return read_image(SAMPLE).image
    return texture(2048, 1024, seed=3).astype(np.float32) / 255.0


@pytest.mark.parametrize("columns", [0, 1, 37, 250, -250, 959, 1000, -1919])
def test_estimate_yaw_recovers_a_known_roll(columns):
    pano = _panorama()
    width = pano.shape[1]
    rolled = np.roll(pano, columns, axis=1)  # content moved right by `columns`, across the seam
    expected = wrap180(columns / width * 360.0)
    yaw = estimate_yaw(pano, rolled)
    assert abs(wrap180(yaw - expected)) < 0.15  # a fifth of an analysis column (0.7 deg)
    # Applying that yaw to the rolled panorama puts it back.
    back = np.roll(rolled, yaw_roll_columns(width, yaw), axis=1)
    np.testing.assert_array_equal(back, pano)


def test_estimate_yaw_survives_exposure_change_and_noise():
    pano = _panorama()
    rng = np.random.default_rng(1)
    other = np.roll(pano, 300, axis=1) * 0.7 + 0.2 + rng.normal(0, 0.05, pano.shape)
    other = np.clip(other, 0, 1).astype(np.float32)
    assert estimate_yaw(pano, other) == pytest.approx(300 / pano.shape[1] * 360.0, abs=0.2)


def test_camera_rotation_is_measured_when_loading(tmp_path):
    # Three copies of one panorama, the camera turning right by 10 then 25 degrees: the content
    # moves left, so the rolls are negative.
    pano = (texture(256, 128, seed=5)).astype(np.uint8)
    for i, turn in enumerate([0.0, 10.0, 25.0]):
        write_image(
            tmp_path / f"{i}.png",
            np.roll(pano, -round(turn / 360 * 256), axis=1),
            gps_time=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
        )
    capture = load_capture(tmp_path)
    rotations = [s.rotation for s in capture.shots]
    # 10 deg is 7.1 columns of 256, rolled by whole columns: 7 and 18 columns.
    np.testing.assert_allclose(rotations, [0.0, 7 / 256 * 360, 18 / 256 * 360], atol=0.2)
    # No tags and no GPS: the view follows the smoothed camera, so yaws undo its jitter.
    assert [s.yaw_source for s in capture.shots] == ["image"] * 3
    smoothed = circular_smooth(rotations, 2.0)
    np.testing.assert_allclose(
        [s.yaw for s in capture.shots], wrap180(smoothed - rotations), atol=1e-9
    )


def test_travel_bearings_follow_the_track_and_need_motion():
    # East for 20 m, then north for 20 m, a shot every 5 m.
    points = [offset(*ORIGIN, 5.0 * i, 0.0) for i in range(5)]
    points += [offset(*ORIGIN, 20.0, 5.0 * i) for i in range(1, 5)]
    lats, lons = zip(*points, strict=True)
    brg = travel_bearings(lats, lons, window=10.0)
    assert brg[0] == pytest.approx(90.0, abs=0.01) and brg[-1] == pytest.approx(0.0, abs=0.01)
    assert brg[4] == pytest.approx(45.0, abs=0.01)  # the corner looks from 5 m before to 5 m after
    # A shot without a fix takes its neighbour's bearing; a track that never moves has none.
    lats2 = list(lats)
    lats2[1] = None
    assert travel_bearings(lats2, lons)[1] == pytest.approx(90.0, abs=0.01)
    assert travel_bearings([55.0] * 3, [13.0] * 3) is None


def test_the_travel_direction_is_smoothed_over_metres_whatever_the_shots_density():
    # A walk turning 90 degrees over 30 m with GPS noise, a shot every 2 m; and the same shots
    # each with a frame 5 cm before it, as --spacing keeps two frames around each mark. The view
    # at the shots both have is the same: the smoothing spans metres, not a number of shots.
    rng = np.random.default_rng(1)
    path = np.arange(0.0, 60.0, 2.0)
    dense = np.sort(np.concatenate([path, path[1:] - 0.05]))
    turn = np.radians(np.clip((dense - 15.0) / 30.0, 0.0, 1.0) * 90.0)
    steps = np.diff(dense, prepend=0.0)
    east, north = np.cumsum(steps * np.cos(turn)), np.cumsum(steps * np.sin(turn))
    noise = rng.normal(0.0, 0.5, (len(path), 2)).repeat(2, axis=0)[1:]  # (one per place)
    points = [
        offset(*ORIGIN, e, n) for e, n in zip(east + noise[:, 0], north + noise[:, 1], strict=True)
    ]
    lats, lons = (list(v) for v in zip(*points, strict=True))
    both = np.searchsorted(dense, path)
    north_up = [0.0] * len(dense)  # (heading tags: each yaw is then the view's bearing)
    sparse, _ = align_yaws(north_up[: len(path)], [None] * len(path), [lats[i] for i in both],
                           [lons[i] for i in both], smoothing=5.0)  # fmt: skip
    doubled, _ = align_yaws(north_up, [None] * len(dense), lats, lons, smoothing=5.0)
    assert np.max(np.abs(wrap180(doubled[both] - sparse))) < 0.5
    # The view follows the turn (smoothed): 90 degrees less from start to end.
    assert wrap180(sparse[0] - sparse[-1]) == pytest.approx(90.0, abs=10.0)


def test_align_yaws_sources():
    east = [offset(*ORIGIN, 5.0 * i, 0.0) for i in range(4)]
    lats, lons = zip(*east, strict=True)
    none4 = [None] * 4
    # Heading tags + track: yaw = travel bearing (90) - heading, exactly.
    yaws, source = align_yaws([0.0, 90.0, 180.0, 300.0], none4, lats, lons)
    assert source == "track+heading"
    np.testing.assert_allclose(yaws, [90.0, 0.0, -90.0, 150.0], atol=1e-3)
    # Image rotations + track: the camera is assumed to face forward on average.
    yaws, source = align_yaws(none4, [0.0, 10.0, 20.0, 30.0], lats, lons, smoothing=0.0)
    assert source == "track+image"
    np.testing.assert_allclose(yaws, [15.0, 5.0, -5.0, -15.0], atol=1e-3)
    # Tags only: the smoothed tags are the view.
    yaws, source = align_yaws([10.0, 20.0, 10.0, 20.0], none4, none4, none4, smoothing=50.0)
    assert source == "heading"
    np.testing.assert_allclose(yaws, [5.0, -5.0, 5.0, -5.0], atol=0.1)
    # Tags and images agreeing within 20 deg: the images' shot-to-shot detail (0, 5, 5, 10) on the
    # tags' mean direction (100), not the tags' jitter.
    yaws, source = align_yaws([100.0, 112.0, 98.0, 110.0], [0.0, 5.0, 5.0, 10.0], lats, lons)
    assert source == "track+heading"
    np.testing.assert_allclose(yaws, [-10.0, -15.0, -15.0, -20.0], atol=1e-3)
    # Nothing known.
    yaws, source = align_yaws(none4, none4, none4, none4)
    assert source == "none" and np.all(yaws == 0.0)


def test_image_turns_that_contradict_the_tags_are_not_used():
    # Tags say the camera held 0 deg; the image chain says it spun by 90 deg: trust the tags.
    east = [offset(*ORIGIN, 5.0 * i, 0.0) for i in range(3)]
    lats, lons = zip(*east, strict=True)
    yaws, source = align_yaws([0.0, 0.0, 0.0], [0.0, 90.0, 180.0], lats, lons)
    assert source == "track+heading"
    np.testing.assert_allclose(yaws, 90.0, atol=1e-3)


def test_one_tag_the_pictures_contradict_is_left_out_and_said(tmp_path):
    # The camera never turns (the pictures say so); one shot's compass tag reads 40, one 180.
    east = [offset(*ORIGIN, 3.0 * i, 0.0) for i in range(8)]
    lats, lons = zip(*east, strict=True)
    tags, still = [0.0, 0.0, 40.0, 0.0, 0.0, 180.0, 0.0, 0.0], [0.0] * 8
    assert odd_tags(tags, still) == [2, 5]
    yaws, source = align_yaws(tags, still, lats, lons, smoothing=0.0)
    assert source == "track+heading"
    np.testing.assert_allclose(yaws, 90.0, atol=1e-3)  # every shot: east less the camera's 0
    # A failed image estimate turns every shot after it: the tags stay the safer bet.
    assert odd_tags([0.0] * 6, [0.0, 0.0, 0.0, 30.0, 30.0, 30.0]) == []
    assert odd_tags([0.0] * 6, [30.0, 30.0, 0.0, 0.0, 0.0, 0.0]) == []
    # ... also beside a bad tag elsewhere; and when the other tags spread too, they serve as is
    assert odd_tags([0.0, 1.0, -1.0, 90.0, 0.0, 1.0, 0.0], [0.0] * 6 + [60.0]) == []
    assert odd_tags([-19.9, 0.0, 19.9, 90.0, 19.9, 19.9, 19.9], [0.0] * 7) == []
    # In a capture: said in one line, naming the shots.
    from viewsynth.capture import CaptureOptions

    pano = np.random.default_rng(0).random((32, 64, 3))
    for i, (lat, lon) in enumerate(east):
        write_image(tmp_path / f"p{i}.jpg", (pano * 255).astype(np.uint8), position=(lat, lon),
                    pose_heading=tags[i], exif_time=f"2024:05:01 10:00:{2 * i:02d}")  # fmt: skip
    # (one picture at every shot: kept, not taken for a walker standing still)
    options = CaptureOptions(projection="equirect", duplicate_distance=0, duplicate_images=False)
    capture = load_capture(tmp_path, options)
    assert (
        "heading tags of p2.jpg, p5.jpg disagree with the pictures by more than 20 degrees: left out"
    ) in capture.warnings


def _east_then_north(folder, tags: dict[int, float]) -> None:
    """Ten ordinary photos (64x48), one a second, 5 m apart: east for 20 m, then north for 25 m;
    photo k has a GPSImgDirection of ``tags[k]`` where given."""
    points = [offset(*ORIGIN, 5.0 * i, 0.0) for i in range(5)]
    points += [offset(*ORIGIN, 20.0, 5.0 * i) for i in range(1, 6)]
    for k, position in enumerate(points):
        write_image(folder / f"p{k:02d}.jpg", size=(64, 48), seed=k, position=position,
                    gps_time=datetime(2024, 5, 1, 10, tzinfo=UTC) + timedelta(seconds=k),
                    gps_direction=tags.get(k))  # fmt: skip


def test_photos_without_a_heading_tag_face_the_smoothed_direction_of_travel(tmp_path):
    from viewsynth.walkthrough.manifest import frame_entry

    _east_then_north(tmp_path, {1: 200.0, 8: 300.0})  # two tagged: their camera's own
    capture = load_capture(tmp_path)
    assert capture.projection == "perspective" and len(capture.shots) == 10
    views = [s.view_heading for s in capture.shots]
    assert views[1] is None and views[8] is None  # the tags win, as they are
    assert [s.heading for s in capture.shots if s.heading is not None] == [200.0, 300.0]
    assert all(abs(wrap180(v - 90.0)) < 5.0 for v in views[0:1] + views[2:3])  # east
    assert all(abs(wrap180(v - 0.0)) < 5.0 for v in views[6:8] + views[9:])  # then north
    assert 20.0 < views[4] < 70.0  # the corner, smoothed
    assert capture.heading_by == (
        "heading tags (2 of 10 shots); the direction of travel (8 of 10 shots; GPS track, "
        "Gaussian sigma 5 m; a forward camera)"
    )
    # the manifest's rows: the travel direction, and a tag where a photo has one
    shots = capture.shots
    assert frame_entry(shots[0], shots[1], 0.0)["heading"] == pytest.approx(views[0], abs=1e-3)
    assert frame_entry(shots[0], shots[1], 1.0)["heading"] == 200.0
    assert frame_entry(shots[8], shots[9], 0.0)["heading"] == 300.0
    # the smoothing is the panoramas' (capture.heading_smoothing_metres): 0 gives the raw corner
    raw = load_capture(tmp_path, CaptureOptions(heading_smoothing_metres=0.0))
    assert raw.shots[4].view_heading == pytest.approx(45.0, abs=0.1)
    # capture.align_heading=false: no travel direction assumed, the tags only
    off = load_capture(tmp_path, CaptureOptions(align_heading=False))
    assert all(s.view_heading is None for s in off.shots)
    assert off.heading_by == "heading tags (2 of 10 shots)"


def test_photos_without_gps_or_tags_have_no_heading(tmp_path):
    for k in range(3):
        write_image(tmp_path / f"p{k}.jpg", size=(64, 48), seed=k,
                    gps_time=datetime(2024, 5, 1, 10, tzinfo=UTC) + timedelta(seconds=k))  # fmt: skip
    capture = load_capture(tmp_path)
    assert all(s.view_heading is None for s in capture.shots) and capture.heading_by == ""


def test_a_gopro_hero_walk_faces_its_direction_of_travel_in_the_manifest(tmp_path):
    # The real GoPro MAX clip in HERO (flat) mode: its GPMF track, no heading in it. Each output
    # frame's heading is the walk's direction (south-south-east, straight: within 2 degrees of
    # the bearing from its first position to its last).
    from viewsynth.walkthrough.run import run_capture
    from viewsynth.walkthrough.settings import InterpolateSettings

    clip = Path(__file__).resolve().parent / "data" / "max-heromode_small.mp4"
    settings = InterpolateSettings(method="linear", factor=2)
    settings = dataclasses.replace(settings, capture=CaptureOptions(every_seconds=1.0))
    assert run_capture(clip, tmp_path, settings).status == "done"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["projection"] == "perspective" and manifest["gps_by"] == "GoPro GPMF"
    assert manifest["heading_by"] == (
        "the direction of travel (GPS track, Gaussian sigma 5 m; a forward camera)"
    )
    (segment,) = manifest["segments"]
    rows = segment["frames"]
    assert len(rows) == 21 and all("heading" in row for row in rows)
    walk = bearing(rows[0]["lat"], rows[0]["lon"], rows[-1]["lat"], rows[-1]["lon"])
    assert 140.0 < walk < 160.0
    assert max(abs(wrap180(row["heading"] - walk)) for row in rows) < 2.0


def test_a_photos_heading_does_not_make_a_finished_capture_again(tmp_path):
    # Headings of ordinary photos are a manifest field, no pixel: a run finished before they were
    # read from the track (its shots had none) keeps its fingerprint, and so does a run with
    # capture.align_heading=false; a panorama's heading turns its pixels and counts.
    from viewsynth.walkthrough.resume import fingerprints
    from viewsynth.walkthrough.settings import InterpolateSettings

    _east_then_north(tmp_path, {})
    capture = load_capture(tmp_path)
    assert all(s.view_heading is not None for s in capture.shots)
    settings, record = InterpolateSettings(method="linear"), {"method": "linear"}
    key = fingerprints(capture, settings, record)
    bare = dataclasses.replace(
        capture,
        segments=[
            [dataclasses.replace(s, view_heading=None) for s in seg] for seg in capture.segments
        ],
    )
    assert fingerprints(bare, settings, record) == key
    off = dataclasses.replace(settings, capture=CaptureOptions(align_heading=False))
    assert fingerprints(load_capture(tmp_path, off.capture), off, record) == key
    turned = dataclasses.replace(bare, projection="equirect")
    assert fingerprints(turned, settings, record) != fingerprints(
        dataclasses.replace(capture, projection="equirect"), settings, record
    )
