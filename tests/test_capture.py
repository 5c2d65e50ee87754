"""Capture ingestion: tags, one clock, bad files, projection, sizes, gaps, duplicates, GPS sanity,
videos and the real captures in ../shared/data."""

from __future__ import annotations

import json
import math
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from capture_fixtures import DATA, ORIGIN, SAMPLES, offset, shot, texture, write_image

from viewsynth import config
from viewsynth.capture import CaptureOptions, Metadata, iter_frames, load_capture, read_metadata
from viewsynth.capture.heading import haversine
from viewsynth.capture.sampling import FrameClock, sampled
from viewsynth.capture.track import (
    check_gps,
    check_order,
    drop_duplicates,
    gps_times,
    split_by_distance,
    split_by_time,
    unfreeze,
)
from viewsynth.errors import ConfigError, FrameError, ViewsynthError
from viewsynth.export.segment import segment_names
from viewsynth.frames import iter_video, read_image, resize, video_times
from viewsynth.walkthrough.manifest import MANIFEST
from viewsynth.walkthrough.resume import STATE_FILE

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def _walk(folder, n, *, step=5.0, dt=2.0, names=None, **kw):
    """n JPEGs walking east ``step`` metres every ``dt`` seconds, with GPS position and time."""
    paths = []
    for i in range(n):
        name = names[i] if names else f"img{i}.jpg"
        paths.append(
            write_image(
                folder / name,
                seed=i,
                position=offset(*ORIGIN, i * step, 0.0),
                gps_time=T0 + timedelta(seconds=i * dt),
                **kw,
            )
        )
    return paths


# -- metadata ----------------------------------------------------------------------------------


def test_metadata_reads_gps_times_and_heading(tmp_path):
    path = write_image(
        tmp_path / "a.jpg",
        position=(-33.5, -70.25),
        gps_time=datetime(2020, 1, 2, 3, 4, 5, 500000, tzinfo=UTC),
        exif_time="2020:01:02 05:04:06",
        subsec="25",
        offset_time="+02:00",
        gps_direction=80.0,
        pose_heading=123.5,
    )
    meta = read_metadata(path)
    assert meta.lat == pytest.approx(-33.5, abs=1e-6)  # S and W are negative
    assert meta.lon == pytest.approx(-70.25, abs=1e-6)
    assert meta.gps_time == pytest.approx(
        datetime(2020, 1, 2, 3, 4, 5, 500000, tzinfo=UTC).timestamp()
    )
    # 05:04:06.25 at +02:00 is 03:04:06.25 UTC
    assert meta.exif_time == pytest.approx(
        datetime(2020, 1, 2, 3, 4, 6, 250000, tzinfo=UTC).timestamp()
    )
    assert meta.exif_offset == 7200
    assert (meta.heading, meta.heading_tag) == (123.5, "gpano")  # GPano wins over GPSImgDirection
    assert meta.projection_tag == "equirectangular"


def test_metadata_altitude_sign_source_and_absence(tmp_path):
    where = offset(*ORIGIN, 0.0, 0.0)
    lund = {"MAPLatitude": "55.698167", "MAPLongitude": "13.195389", "MAPAltitude": "37.000000"}
    paths = [
        write_image(tmp_path / "above.jpg", position=where, altitude=35.25),
        write_image(tmp_path / "below.jpg", position=where, altitude=-12.5),  # Ref 1: below sea
        write_image(tmp_path / "none.jpg", position=where),  # no GPSAltitude: None, not 0
        write_image(tmp_path / "alone.jpg", altitude=35.0),  # a height without a position
        write_image(tmp_path / "mapillary.jpg", mapillary=lund),  # Mapillary's own position
    ]
    assert [read_metadata(p).altitude for p in paths] == [35.25, -12.5, None, None, 37.0]


def test_shots_carry_altitude_only_with_their_position(tmp_path):
    _walk(tmp_path, 3, altitude=-4.5)
    assert [s.alt for s in load_capture(tmp_path).shots] == [-4.5] * 3
    assert [s.alt for s in load_capture(tmp_path, CaptureOptions(use_gps=False)).shots] == [
        None
    ] * 3
    # a shot whose position is distrusted loses its altitude with it
    shots = [shot(f"s{i}", east=5.0 * i, time=2.0 * i, alt=10.0 + i) for i in range(5)]
    shots[2] = shot("s2", east=2001.0, time=4.0, alt=12.0)
    fixed, _ = check_gps(shots, 50.0)
    assert [s.alt for s in fixed] == [10.0, 11.0, None, 13.0, 14.0]


def test_a_gps_date_of_1970_is_no_time(tmp_path):
    # what a receiver without a fix writes (GPS time began in 1980): the EXIF clock orders instead
    meta = read_metadata(
        write_image(
            tmp_path / "a.jpg",
            gps_time=datetime(1970, 1, 1, tzinfo=UTC),
            exif_time="2024:05:01 10:00:30",
        )
    )
    assert meta.gps_time is None and meta.exif_time is not None


def test_a_portrait_photos_focal_length_from_the_focal_plane_is_its_own():
    # 4 mm at 250 px/mm on a 4000x3000 sensor; shown portrait (turned by its Orientation tag) at
    # 750x1000, a quarter of that: 250 px whether or not ExifImageHeight is there
    for height in (3000, None):
        meta = Metadata(
            focal_mm=4.0, focal_plane_px_per_mm=250.0, exif_width=4000, exif_height=height
        )
        assert meta.focal_px(750, 1000) == pytest.approx(250.0)
        assert meta.focal_px(1000, 750) == pytest.approx(250.0)  # landscape alike
        assert meta.focal_px(4000, 3000) == pytest.approx(1000.0)


def test_metadata_heading_priority_and_mapillary_fallback(tmp_path):
    mapillary = {
        "MAPCaptureTime": "2012_09_15_17_49_08_338",
        "MAPCompassHeading": {"TrueHeading": 200.5, "MagneticHeading": 190.0},
        "MAPLatitude": "55.5",
        "MAPLongitude": "-13.25",
    }
    only_map = read_metadata(write_image(tmp_path / "m.jpg", mapillary=mapillary))
    assert only_map.mapillary_time == pytest.approx(
        datetime(2012, 9, 15, 17, 49, 8, 338000, tzinfo=UTC).timestamp()
    )
    assert (only_map.heading, only_map.heading_tag) == (200.5, "mapillary")
    assert (only_map.lat, only_map.lon) == (55.5, -13.25)
    assert only_map.gps_time is None and only_map.exif_time is None
    both = read_metadata(
        write_image(
            tmp_path / "g.jpg", mapillary=mapillary, gps_direction=10.0, position=(1.0, 2.0)
        )
    )
    assert (both.heading, both.heading_tag) == (10.0, "gps")
    assert both.lat == pytest.approx(1.0, abs=1e-6)  # EXIF GPS wins over MAPLatitude


def test_metadata_of_a_broken_file_is_empty(tmp_path):
    (tmp_path / "x.jpg").write_text("not a jpeg")
    meta = read_metadata(tmp_path / "x.jpg")
    assert meta.lat is None and meta.gps_time is None and meta.heading is None
    assert not meta.readable and read_metadata(write_image(tmp_path / "ok.jpg")).readable


# -- time source and order -----------------------------------------------------------------------


def test_a_photo_without_the_clock_the_others_share_is_left_out_not_the_order(tmp_path):
    # names run against time; one photo lost its time: the others keep their clock's order
    for i, name in enumerate(["e.jpg", "d.jpg", "c.jpg", "b.jpg"]):
        write_image(tmp_path / name, seed=i, exif_time=f"2024:05:01 12:00:{10 * i:02d}")
    write_image(tmp_path / "a.jpg", seed=9)
    capture = load_capture(tmp_path)
    assert capture.time_source == "exif"
    assert [s.name for s in capture.segments[0]] == ["e.jpg", "d.jpg", "c.jpg", "b.jpg"]
    assert capture.skipped == [("a.jpg", "no EXIF time, which the other 4 frames are ordered by")]
    # with no clock on most frames, names order them, and a warning says so
    for k, name in enumerate(("d.jpg", "c.jpg")):
        write_image(tmp_path / name, seed=10 + k)
    capture = load_capture(tmp_path)
    assert capture.time_source == "filename" and not capture.skipped
    assert [s.name for s in capture.segments[0]] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert "frames ordered by file name: no clock is on every frame (EXIF time on 2 of 5)" in (
        capture.warnings
    )


def test_orders_by_gps_time_not_by_name(tmp_path):
    # Names say c, b, a; GPS times say a, b, c; EXIF (camera clock) disagrees with both.
    for i, name in enumerate(["a.jpg", "b.jpg", "c.jpg"]):
        write_image(
            tmp_path / name,
            seed=i,
            gps_time=T0 + timedelta(seconds=10 * i),
            exif_time=f"2024:05:01 12:00:{50 - 10 * i:02d}",
        )
    capture = load_capture(tmp_path)
    assert capture.time_source == "gps"
    assert [s.name for s in capture.segments[0]] == ["a.jpg", "b.jpg", "c.jpg"]
    assert [s.time - capture.segments[0][0].time for s in capture.segments[0]] == [0, 10, 20]


def test_one_time_source_for_all_frames(tmp_path):
    # b.jpg has no GPS time: the capture falls back to EXIF for every frame, never a mix.
    write_image(tmp_path / "a.jpg", gps_time=T0, exif_time="2024:05:01 10:00:30")
    write_image(tmp_path / "b.jpg", seed=1, exif_time="2024:05:01 10:00:10")
    write_image(tmp_path / "c.jpg", seed=2, gps_time=T0, exif_time="2024:05:01 10:00:20")
    capture = load_capture(tmp_path)
    assert capture.time_source == "exif"
    assert [s.name for s in capture.segments[0]] == ["b.jpg", "c.jpg", "a.jpg"]


def test_filename_order_is_natural(tmp_path):
    for i, name in enumerate(["img10.jpg", "img2.jpg", "img1.jpg"]):
        write_image(tmp_path / name, seed=i)
    capture = load_capture(tmp_path)
    assert capture.time_source == "filename"
    assert [s.name for s in capture.segments[0]] == ["img1.jpg", "img2.jpg", "img10.jpg"]
    assert all(s.time is None for s in capture.segments[0])


def test_exif_offsets_used_only_when_every_frame_has_one(tmp_path):
    # a: 12:00:05 at +02:00 = 10:00:05Z; b: 11:00:30 at +01:00 = 10:00:30Z (after a in UTC,
    # before a on the local clocks).
    write_image(tmp_path / "a.jpg", exif_time="2024:05:01 12:00:05", offset_time="+02:00")
    write_image(tmp_path / "b.jpg", seed=1, exif_time="2024:05:01 11:00:30", offset_time="+01:00")
    capture = load_capture(tmp_path)
    assert capture.time_source == "exif"
    assert [s.name for s in capture.segments[0]] == ["a.jpg", "b.jpg"]
    assert capture.segments[0][0].time == datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC).timestamp()
    assert capture.warnings == []
    # Without b's offset the two clocks cannot be compared: both are read as local time, with a
    # warning (and 59 minutes apart they would be cut at the time gap, so it is off here).
    write_image(tmp_path / "b.jpg", seed=1, exif_time="2024:05:01 11:00:30")
    capture = load_capture(tmp_path, CaptureOptions(time_gap=0))
    assert [s.name for s in capture.segments[0]] == ["b.jpg", "a.jpg"]
    assert capture.segments[0][1].time == datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC).timestamp()
    assert capture.warnings == [
        "OffsetTimeOriginal is on 1 of 2 frames only: all times read as local camera time"
    ]


def test_a_burst_in_one_gps_second_takes_its_order_and_spacing_from_the_exif_subseconds(tmp_path):
    # A phone's GPSTimeStamp has whole seconds: four photos in 10:00:08 would tie (and go by name,
    # here against time). Their EXIF UTC times (12:00:08.xx at +02:00) give the milliseconds.
    subsecs = ["00", "25", "50", "75", "10"]
    for i, name in enumerate(["e.jpg", "d.jpg", "c.jpg", "b.jpg", "a.jpg"]):
        second = 8 + (i == 4)
        write_image(
            tmp_path / name,
            seed=i,
            gps_time=T0 + timedelta(seconds=second),
            exif_time=f"2024:05:01 12:00:{second:02d}",
            subsec=subsecs[i],
            offset_time="+02:00",
        )
    capture = load_capture(tmp_path)
    assert capture.time_source == "gps"
    assert [s.name for s in capture.shots] == ["e.jpg", "d.jpg", "c.jpg", "b.jpg", "a.jpg"]
    t0 = T0.timestamp()
    assert [s.utc - t0 for s in capture.shots] == pytest.approx([8.0, 8.25, 8.5, 8.75, 9.1])


def _burst(gps: list[float], exif: list[float], offset: float | None = 0.0) -> list[Metadata]:
    return [
        Metadata(gps_time=g, exif_time=e, exif_offset=offset)
        for g, e in zip(gps, exif, strict=True)
    ]


def test_gps_times_take_one_shift_of_the_exif_clock_never_a_frame_by_frame_mix():
    # a camera clock 0.3 s ahead of GPS: shots at 8.0, 8.4, 8.8, 9.2 s GPS (8, 8, 8, 9 whole).
    # The third's EXIF second (9.1) is past its GPS second: taking each EXIF fraction on its GPS
    # second would put it at 8.1, before the first. One shift keeps order and spacing.
    metas = _burst([8.0, 8.0, 8.0, 9.0], [8.3, 8.7, 9.1, 9.5])
    times = gps_times(metas)
    assert times == sorted(times) and np.diff(times) == pytest.approx([0.4, 0.4, 0.4])
    assert all(g <= t <= g + 1 for g, t in zip([8, 8, 8, 9], times, strict=True))
    # clocks that agree are taken as they are
    assert gps_times(_burst([8.0, 8.0], [8.2, 8.9])) == pytest.approx([8.2, 8.9])
    # GPS stays the clock when the EXIF one is no refinement of it: a second or more off (a stale
    # fix's time), local time only (no offset), or a GPS time with fractions of its own
    for metas in (
        _burst([8.0, 8.0, 20.0], [8.2, 8.9, 22.5]),
        _burst([8.0, 8.0], [7.0, 7.5]),
        _burst([8.0, 8.0], [8.2, 8.9], offset=None),
        _burst([8.0, 8.5], [8.2, 8.9]),
    ):
        assert gps_times(metas) == [m.gps_time for m in metas]


def test_clock_chosen_among_frames_that_decode(tmp_path):
    # A truncated file without tags must not push the capture to file-name order; the panoramas'
    # rotations are then measured in the final (GPS) order: c, b, a, turning right 10 deg each.
    pano = texture(256, 128, seed=4)
    for i, name in enumerate(["c.png", "b.png", "a.png"]):
        write_image(
            tmp_path / name,
            np.roll(pano, -7 * i, axis=1),
            gps_time=T0 + timedelta(seconds=i),
        )
    write_image(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "whole.jpg").unlink()
    (tmp_path / "0_truncated.jpg").write_bytes(data[: len(data) // 2])
    capture = load_capture(tmp_path)
    assert capture.time_source == "gps"
    assert [s.name for s in capture.shots] == ["c.png", "b.png", "a.png"]
    np.testing.assert_allclose(
        [s.rotation for s in capture.shots], [0.0, 7 / 256 * 360, 14 / 256 * 360], atol=0.2
    )
    assert [name for name, _ in capture.skipped] == ["0_truncated.jpg"]


def test_forced_time_source_names_the_frame_without_it(tmp_path):
    write_image(tmp_path / "a.jpg", gps_time=T0)
    write_image(tmp_path / "b.jpg", seed=1)
    with pytest.raises(ViewsynthError) as err:
        load_capture(tmp_path, CaptureOptions(time_source="gps"))
    assert str(err.value) == (
        f"{tmp_path}: capture.time_source is 'gps' but b.jpg has no gps time (use 'auto')"
    )


# -- bad input -------------------------------------------------------------------------------------


def test_bad_files_are_skipped_with_their_reason(tmp_path):
    write_image(tmp_path / "good1.jpg")
    write_image(tmp_path / "good2.png", seed=1)
    data = (tmp_path / "good1.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.JPG").write_text("I am not a picture")
    (tmp_path / "notes.txt").write_text("shot on a sunny day")
    (tmp_path / "ride.MP4").write_bytes(b"")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / "sub").mkdir()
    capture = load_capture(tmp_path)
    assert [s.name for s in capture.segments[0]] == ["good1.jpg", "good2.png"]
    reasons = dict(capture.skipped)
    assert set(reasons) == {
        "truncated.jpg",
        "empty.jpg",
        "text.JPG",
        "notes.txt",
        "ride.MP4",
        "sub",
    }
    assert (
        reasons["ride.MP4"]
        == "a video among photos: give it alone, or beside this folder in a root"
    )
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert reasons["text.JPG"] == "not a readable image"
    assert reasons["truncated.jpg"].startswith(
        "truncated or corrupt image (image file is truncated"
    )
    assert reasons["notes.txt"] == "not an image"
    assert reasons["sub"] == "a folder (captures are not searched recursively)"
    assert any(
        w.startswith("skipped 6 file(s): ") and "empty.jpg (empty file (0 bytes))" in w
        for w in capture.warnings
    )


def test_a_jobs_own_outputs_are_passed_over_only_where_the_job_left_its_mark(tmp_path):
    # The names viewsynth writes (several segments of a panoramic capture: flat and 360 videos,
    # GPX named after the flat one, the manifest, the summary, the frames folder) ...
    names = [segment_names(2, k, panoramic=True) for k in range(2)]
    written = [name for seg in names for name in seg.values()]
    written += [str(Path(seg["flat"]).with_suffix(".gpx")) for seg in names]
    written += ["walkthrough.mp4", "walkthrough_360.mp4", "walkthrough.gpx", "summary.json"]
    for i in range(2):
        write_image(tmp_path / f"img{i}.jpg", seed=i)
    for name in written:
        (tmp_path / name).write_bytes(b"\0")
    (tmp_path / "frames").mkdir()
    (tmp_path / "my_walkthrough.mp4").write_bytes(b"\0")  # the user's: still named
    # ... are the user's own (a foreign manifest.json, say) until a job's mark is there ...
    (tmp_path / MANIFEST).write_text(json.dumps({"title": "my trip"}))
    mine = {name for name, _ in load_capture(tmp_path).skipped}
    assert mine == {*written, "frames", MANIFEST, "my_walkthrough.mp4"}
    # ... its manifest or its resume ledger, each holding the job's fingerprint.
    for mark in (MANIFEST, STATE_FILE):
        (tmp_path / MANIFEST).write_text("{}")
        (tmp_path / mark).write_text(json.dumps({"fingerprint": "0123456789abcdef"}))
        capture = load_capture(tmp_path)
        assert capture.skipped == [
            (
                "my_walkthrough.mp4",
                "a video among photos: give it alone, or beside this folder in a root",
            )
        ]
        (tmp_path / STATE_FILE).unlink(missing_ok=True)


def test_a_video_sampling_set_for_photos_is_said_to_apply_to_videos_only(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"img{i}.jpg", seed=i)
    assert load_capture(tmp_path).warnings == []
    for setting, value in (("every_seconds", 2.0), ("every_frames", 5), ("every_metres", 3.0)):
        capture = load_capture(tmp_path, CaptureOptions(**{setting: value}))
        assert len(capture.shots) == 3  # every photo, as before
        assert capture.warnings == [
            f"{tmp_path.name}: capture.{setting}={value:g} applies to videos only, not to these "
            "photos"
        ]


def test_too_large_images_are_skipped(tmp_path):
    write_image(tmp_path / "a.jpg")
    write_image(tmp_path / "b.jpg", seed=1)
    write_image(tmp_path / "huge.jpg", size=(128, 64))
    capture = load_capture(tmp_path, CaptureOptions(max_pixels=64 * 32))
    assert dict(capture.skipped) == {
        "huge.jpg": "128x64 is too large to decode safely (limit 2048 pixels)"
    }


def test_missing_path(tmp_path):
    with pytest.raises(ViewsynthError) as err:
        load_capture(tmp_path / "nope")
    assert str(err.value) == f"{tmp_path / 'nope'}: no such file or folder"


def test_empty_folder(tmp_path):
    with pytest.raises(ViewsynthError) as err:
        load_capture(tmp_path)
    assert str(err.value) == f"{tmp_path}: no JPEG, PNG or HEIC images in this folder"
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "day1").mkdir()
    with pytest.raises(ViewsynthError) as err:
        load_capture(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: no JPEG, PNG or HEIC images in this folder (it has sub-folders: give one of them)"
    )


def test_one_usable_frame_is_fatal(tmp_path):
    write_image(tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(ViewsynthError) as err:
        load_capture(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: fewer than two usable frames (1 of 2 images could be read; "
        "skipped: b.jpg (empty file (0 bytes)))"
    )


def test_a_single_image_or_other_file_is_not_a_capture(tmp_path):
    image = write_image(tmp_path / "a.jpg")
    with pytest.raises(ViewsynthError) as err:
        load_capture(image)
    assert str(err.value) == (
        f"{image}: a single image is not a capture; give the folder that holds the images"
    )
    other = tmp_path / "track.gpx"
    other.write_text("<gpx/>")
    with pytest.raises(ViewsynthError, match=r"track\.gpx: not a capture \(expected a folder"):
        load_capture(other)


def test_a_360_cameras_unstitched_files_say_how_to_export_them(tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    (card / "GS010001.360").write_bytes(b"\0" * 64)
    (card / "GS010002.360").write_bytes(b"\0" * 64)
    with pytest.raises(ViewsynthError) as err:
        load_capture(card)
    assert str(err.value) == (
        f"{card}: no JPEG, PNG or HEIC images in this folder (GS010001.360, GS010002.360: a GoPro MAX "
        "video, not yet stitched: export it as an equirectangular MP4 with GoPro Player or Quik "
        "first)"
    )
    insv = tmp_path / "VID_20240501_100000_00_001.insv"
    insv.write_bytes(b"\0" * 64)
    with pytest.raises(ViewsynthError) as err:
        load_capture(insv)
    assert str(err.value) == (
        f"{insv}: an Insta360 video, not yet stitched: export it as an equirectangular MP4 with "
        "Insta360 Studio first"
    )
    # beside stitched photos, an unstitched one is skipped with that reason
    _walk(card, 2)
    (card / "IMG_20240501_100000_00_002.insp").write_bytes(b"\0" * 64)
    skipped = dict(load_capture(card).skipped)
    assert skipped["IMG_20240501_100000_00_002.insp"].startswith("an Insta360 photo, not yet")


def test_a_transport_stream_says_how_to_remux_it(tmp_path):
    # A camcorder's or dashcam's .MTS / .ts was "not a capture folder or video file": the reader
    # (imageio's ffmpeg plugin) refuses those names, and a remux to MP4 reads.
    from viewsynth.walkthrough import find_captures, find_strays

    ride = tmp_path / "00001.MTS"
    ride.write_bytes(b"\0" * 64)
    said = (
        "an AVCHD video, not read as it is: remux it to MP4 first (ffmpeg -i 00001.MTS -map 0:v "
        "-c copy 00001.mp4), then give 00001.mp4"
    )
    for load in (find_captures, load_capture):
        with pytest.raises(ViewsynthError) as err:
            load(ride)
        assert str(err.value) == f"{ride}: {said}"
    (tmp_path / "walk").mkdir()
    _walk(tmp_path / "walk", 2)
    assert find_strays(tmp_path) == [("00001.MTS", f"not a capture: {said}")]


def test_a_3gp_of_an_old_phone_is_told_a_remux_that_works(tmp_path):
    # An old phone's 3GP holds H.263, which MP4 has no tag for: "-c copy clip.mp4" failed (rc 234)
    # and left an empty file. The hint now names a QuickTime file, which takes it, and reads.
    import shlex
    import subprocess

    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    clip = tmp_path / "clip.3gp"
    make = [
        ffmpeg,
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=176x144:rate=10",
        "-frames:v",
        "6",
    ]
    subprocess.run([*make, "-c:v", "h263", str(clip)], check=True)
    with pytest.raises(ViewsynthError) as err:
        load_capture(clip)
    said = str(err.value)
    command = said[said.index("(ffmpeg ") + 1 : said.index("), then give")]
    assert command == "ffmpeg -i clip.3gp -map 0:v -c copy clip.mov", said
    args = shlex.split(command)
    subprocess.run([ffmpeg, "-v", "error", *args[1:]], cwd=tmp_path, check=True)
    assert len(load_capture(tmp_path / "clip.mov").shots) == 6


# -- projection and working size -------------------------------------------------------------------


def test_projection_auto_and_mixed(tmp_path):
    write_image(tmp_path / "a.jpg", size=(64, 32))
    write_image(tmp_path / "b.jpg", size=(64, 32), seed=1)
    assert load_capture(tmp_path).projection == "equirect"
    assert (
        load_capture(tmp_path, CaptureOptions(projection="perspective")).projection == "perspective"
    )
    write_image(tmp_path / "c.jpg", size=(48, 32), seed=2)
    with pytest.raises(ViewsynthError) as err:
        load_capture(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: mixed projections: c.jpg (48x32) is not 2:1 (a photo) but a.jpg (64x32) is "
        "a 2:1 panorama; remove one kind or set capture.projection"
    )
    forced = load_capture(tmp_path, CaptureOptions(projection="equirect"))
    assert forced.projection == "equirect" and forced.working_size == (64, 32)


def test_working_size_most_common_or_first_and_capped(tmp_path):
    write_image(tmp_path / "a.jpg", size=(40, 30))
    write_image(tmp_path / "b.jpg", size=(48, 36), seed=1)
    write_image(tmp_path / "c.jpg", size=(48, 36), seed=2)
    capture = load_capture(tmp_path)
    assert capture.working_size == (48, 36)
    assert "frames resized to the working size 48x36: a.jpg (40x30)" in capture.warnings
    assert load_capture(tmp_path, CaptureOptions(working_size="first")).working_size == (40, 30)
    capped = load_capture(tmp_path, CaptureOptions(max_width=24))
    assert capped.working_size == (24, 18)
    # another aspect ratio is centre-cropped, not stretched, and said apart: a portrait photo
    write_image(tmp_path / "d.jpg", size=(36, 48), seed=3)
    assert [w for w in load_capture(tmp_path).warnings if "working size" in w] == [
        "frames resized to the working size 48x36: a.jpg (40x30)",
        "photos of another aspect ratio centre-cropped to 4:3, not stretched, then resized to the "
        "working size 48x36: d.jpg (36x48: kept 36x27, 56%)",
    ]
    # photos forced to be panoramas: stretched to 2:1, not blamed on capture.max_width
    (tmp_path / "photos").mkdir()
    for seed in (1, 2):
        write_image(tmp_path / "photos" / f"{seed}.jpg", size=(48, 36), seed=seed)
    forced = load_capture(tmp_path / "photos", CaptureOptions(projection="equirect"))
    assert (
        "every frame resized from 48x36 to 48x24 (stretched to a panorama's 2:1, which "
        "48x36 is not)" in forced.warnings
    )
    images = [img for _, img in iter_frames(capped, capped.segments[0])]
    assert [img.shape for img in images] == [(18, 24, 3)] * 3
    expected = resize(read_image(tmp_path / "b.jpg").image, 24, 18)
    np.testing.assert_array_equal(images[1], expected)


def test_a_portrait_among_landscapes_is_the_centre_of_the_upright_photo_not_squeezed(tmp_path):
    for i in range(2):
        write_image(tmp_path / f"{i}.jpg", size=(48, 36), seed=i, focal_35mm=28)
    # a phone's portrait shot: landscape pixels, turned upright by EXIF Orientation 6
    write_image(tmp_path / "2.jpg", size=(48, 36), seed=2, focal_35mm=28, orientation=6)
    capture = load_capture(tmp_path)
    portrait = capture.shots[2]
    assert capture.working_size == (48, 36) and portrait.size == (36, 48)
    upright = read_image(tmp_path / "2.jpg").image
    assert upright.shape == (48, 36, 3)
    images = [img for _, img in iter_frames(capture, capture.segments[0])]
    # its middle 36x27 (rows 10-36 of the upright photo) at the working size, turned before the cut
    np.testing.assert_array_equal(images[2], resize(upright[10:37], 48, 36))
    assert np.abs(images[2] - resize(upright, 48, 36)).mean() > 0.03  # not the squeezed whole
    # a height crop keeps the field of view: the upright photo's own, 28 mm on its diagonal
    focal = 28 / math.hypot(36, 24) * math.hypot(36, 48)
    assert portrait.hfov == pytest.approx(math.degrees(2 * math.atan(18 / focal)))
    assert (
        "photos of another aspect ratio centre-cropped to 4:3, not stretched, then resized to the "
        "working size 48x36: 2.jpg (36x48: kept 36x27, 56%)" in capture.warnings
    )


def test_a_capture_of_one_size_is_only_resized(tmp_path):
    # 100x57 capped to 50 wide: its 28.5 rows round to 28, 1.8 % off its shape, yet none is cut
    paths = [
        write_image(tmp_path / f"{i}.jpg", size=(100, 57), seed=i, focal_35mm=28) for i in (0, 1)
    ]
    capture = load_capture(tmp_path, CaptureOptions(max_width=50))
    assert capture.working_size == (50, 28)
    assert "every frame resized from 100x57 to 50x28 (capture.max_width)" in capture.warnings
    assert not any("cropped" in w for w in capture.warnings)
    images = [img for _, img in iter_frames(capture, capture.segments[0])]
    for path, image in zip(paths, images, strict=True):
        np.testing.assert_array_equal(image, resize(read_image(path).image, 50, 28))
    focal = 28 / math.hypot(36, 24) * math.hypot(100, 57)
    want = math.degrees(2 * math.atan(50 / focal))
    assert [s.hfov for s in capture.shots] == pytest.approx([want, want])


# -- segments, duplicates, GPS sanity ------------------------------------------------------------


def test_time_gap_splits_and_lone_frames_are_reported():
    shots = [shot(f"s{i}", time=t) for i, t in enumerate([0, 5, 10, 100, 105, 300])]
    segments = split_by_time(shots, 60.0)
    assert [[s.name for s in seg] for seg in segments] == [["s0", "s1", "s2"], ["s3", "s4"], ["s5"]]
    assert len(split_by_time(shots, 0.0)) == 1  # 0 disables


def test_time_gap_in_a_folder(tmp_path):
    for i, sec in enumerate([0, 10, 200, 210, 500]):
        write_image(tmp_path / f"{i}.jpg", seed=i, gps_time=T0 + timedelta(seconds=sec))
    capture = load_capture(tmp_path)
    assert [[s.name for s in seg] for seg in capture.segments] == [
        ["0.jpg", "1.jpg"],
        ["2.jpg", "3.jpg"],
    ]
    assert capture.skipped == [
        ("4.jpg", "alone: more than capture.time_gap (60 s) from the shots around it")
    ]


def test_where_a_capture_was_cut_is_said(tmp_path):
    # A long walk with a pause came out as -seg00 and -seg01 and nothing said why or where.
    for i, (sec, north) in enumerate([(0, 0), (2, 2), (130, 4), (132, 6), (134, 50), (136, 52)]):
        gps = offset(*ORIGIN, 0.0, north)
        write_image(
            tmp_path / f"{i}.jpg", seed=i, gps_time=T0 + timedelta(seconds=sec), position=gps
        )
    capture = load_capture(tmp_path)
    assert len(capture.segments) == 3
    assert capture.warnings == [
        "cut into 3 videos (-seg00 .. -seg02) at gaps over capture.time_gap 60 s or "
        "capture.distance_gap 30 m: 1.jpg | 2.jpg (128 s, 2 m), 3.jpg | 4.jpg (2 s, 44 m)"
    ]
    assert load_capture(tmp_path, CaptureOptions(time_gap=0, distance_gap=0)).warnings == []


def test_duplicates_follow_the_mapillary_rule():
    shots = [
        shot("a", east=0.0, time=0, heading=10.0),
        shot("b", east=0.05, time=1, heading=12.0),  # 5 cm, 2 deg: duplicate of a
        shot("c", east=0.08, time=2, heading=20.0),  # 8 cm but 10 deg turned: kept
        shot("d", east=0.09, time=3),  # heading unknown: duplicate of c
        shot("e", east=5.0, time=4, heading=20.0),  # moved on
    ]
    kept, dropped = drop_duplicates(shots, 0.1, 5.0)
    assert [s.name for s in kept] == ["a", "c", "e"]
    assert [name for name, _ in dropped] == ["b", "d"]
    assert dropped[0][1] == "stationary duplicate of a (0.05 m away, heading 2.0 deg different)"
    assert dropped[1][1] == "stationary duplicate of c (0.01 m away, heading unknown)"
    kept, dropped = drop_duplicates(shots, 0.0, 5.0)  # 0 disables
    assert len(kept) == 5 and dropped == []


def test_distance_gap_splits_and_lone_frames_are_dropped(tmp_path):
    # 0, 5, 10 m, then a 100 m jump to 110, 115, and another to 300: within 60 s throughout.
    east = [0, 5, 10, 110, 115, 300]
    for i, x in enumerate(east):
        write_image(
            tmp_path / f"{i}.jpg",
            seed=i,
            position=offset(*ORIGIN, x, 0.0),
            gps_time=T0 + timedelta(seconds=3 * i),
        )
    capture = load_capture(tmp_path, CaptureOptions(max_speed=0))
    assert [[s.name for s in seg] for seg in capture.segments] == [
        ["0.jpg", "1.jpg", "2.jpg"],
        ["3.jpg", "4.jpg"],
    ]
    assert capture.skipped == [
        ("5.jpg", "alone: more than capture.distance_gap (30 m) from the shots around it")
    ]


def test_positions_that_only_ever_jump_are_distrusted():
    # Two shots 79 m apart in 20 s: cutting there would leave nothing, so GPS is dropped instead.
    shots = [shot("a", east=0.0, time=0.0), shot("b", east=79.0, time=20.0)]
    pieces, warnings = split_by_distance(shots, 30.0)
    assert [[s.name for s in p] for p in pieces] == [["a", "b"]]
    assert all(s.lat is None and s.lon is None for s in pieces[0])
    assert warnings == [
        "GPS ignored for a .. b: every step between them is longer than capture.distance_gap "
        "(30 m; e.g. a -> b: 79 m in 20 s), which would leave nothing to interpolate; raise "
        "capture.distance_gap if the positions are right"
    ]


def test_one_impossible_fix_loses_its_position():
    shots = [shot(f"s{i}", east=5.0 * i, time=2.0 * i) for i in range(5)]
    shots[2] = shot("s2", east=2001.0, time=4.0)  # 2 km away in 2 s
    fixed, warnings = check_gps(shots, 50.0)
    assert [s.has_position for s in fixed] == [True, True, False, True, True]
    assert warnings == [
        "GPS of s2 ignored: 1996 m from s1 in 2.0 s (998 m/s, above capture.max_speed 50 m/s)"
    ]
    # The first shot can be the odd one too.
    shots = [shot("s0", east=-3000.0, time=0.0)] + [
        shot(f"s{i}", east=5.0 * i, time=2.0 * i) for i in range(1, 4)
    ]
    fixed, warnings = check_gps(shots, 50.0)
    assert [s.has_position for s in fixed] == [False, True, True, True]


def test_several_bad_fixes_in_a_row_lose_theirs_and_the_rest_keep_theirs():
    # a phone's first two fixes while it acquires, 500 m off; then two more together mid-walk
    shots = [shot(f"s{i}", east=5.0 * i, time=5.0 * i) for i in range(12)]
    for i in (0, 1, 6, 7):
        shots[i] = shot(f"s{i}", east=5.0 * i, north=500.0 + i, time=5.0 * i)
    fixed, warnings = check_gps(shots, 50.0)
    assert [s.has_position for s in fixed] == [i not in (0, 1, 6, 7) for i in range(12)]
    assert len(warnings) == 4 and warnings[0].startswith("GPS of s0 ignored: ")
    # more than five dropped: the rest in one line
    shots = [shot(f"s{i}", east=5.0 * i, north=5000.0 * (i < 7), time=5.0 * i) for i in range(20)]
    fixed, warnings = check_gps(shots, 50.0)
    assert [s.has_position for s in fixed] == [i >= 7 for i in range(20)]
    assert warnings[-1] == "GPS of 2 more shots ignored likewise: s5, s6"


def test_a_photo_without_a_fix_is_placed_between_its_neighbours_by_time(tmp_path):
    # a phone's photos 5 m and 2 s apart, EXIF times with their offset; one missed its fix, one
    # jumped 2 km, one has no height; and one more without a fix after a 40 s pause, too long
    for i, sec in enumerate((0, 2, 4, 6, 8, 48, 50)):
        position = None if i in (1, 5) else offset(*ORIGIN, 5.0 * i, 2000.0 * (i == 3))
        stamp = (T0 + timedelta(seconds=sec)).strftime("%Y:%m:%d %H:%M:%S")
        write_image(tmp_path / f"p{i}.jpg", seed=i, position=position, exif_time=stamp,
                    offset_time="+00:00", altitude=None if position is None or i == 2 else 10.0 * i)  # fmt: skip
    capture = load_capture(tmp_path, CaptureOptions(duplicate_distance=0, time_gap=100))
    shots = {s.name: s for s in capture.shots}
    for name, east in (("p1.jpg", 5.0), ("p3.jpg", 15.0)):
        assert haversine(shots[name].lat, shots[name].lon, *offset(*ORIGIN, east, 0.0)) < 0.01
    assert (shots["p1.jpg"].alt, shots["p3.jpg"].alt) == pytest.approx((10.0, 30.0))
    assert shots["p2.jpg"].alt == pytest.approx(20.0)  # a position without a height: it gets one
    assert not shots["p5.jpg"].has_position  # 8 s and 50 s: its neighbours are 42 s apart
    assert (
        "2 shot(s) without a GPS position of their own placed by time between the shots around "
        "them: p1.jpg, p3.jpg"
    ) in capture.warnings


def test_photos_whose_gps_froze_while_they_moved_on_are_placed_by_time(tmp_path):
    # a 360 camera walking east 2 m every 2 s whose receiver froze at p2's fix for p3..p5 (6 s),
    # and p6, p7 sharing one fix 2 s apart (a 1 Hz receiver): before, p2..p5 stood at one place,
    # so --spacing gave their pairs 1 step each and the heading there came from no track
    for i in range(8):
        east = {3: 4.0, 4: 4.0, 5: 4.0, 7: 12.0}.get(i, 2.0 * i)
        stamp = (T0 + timedelta(seconds=2 * i)).strftime("%Y:%m:%d %H:%M:%S")
        write_image(tmp_path / f"p{i}.jpg", seed=i, exif_time=stamp, offset_time="+00:00",
                    position=offset(*ORIGIN, east, 0.0))  # fmt: skip
    capture = load_capture(tmp_path, CaptureOptions(duplicate_distance=0))
    shots = capture.shots
    assert [s.name for s in shots] == [f"p{i}.jpg" for i in range(8)]  # (no picture is still)
    for s, east in zip(shots, (0, 2, 4, 6, 8, 10, 12, 12), strict=True):
        assert haversine(s.lat, s.lon, *offset(*ORIGIN, east, 0.0)) < 0.01, s.name
    assert (
        f"GPS frozen at {shots[2].lat:.6f}, {shots[2].lon:.6f} from p2.jpg to p5.jpg (6 s) while "
        "the pictures moved on: of the 3 after the first, 3 placed by time up to the next fix, the "
        "others without a position"
    ) in capture.warnings
    # frozen to the end: no fix after it, the shots after the first have none
    frozen = [shot(f"s{i}", east=0.0, time=2.0 * i) for i in range(4)]
    frozen = unfreeze(frozen, 30.0, {s.name for s in frozen})[0]
    assert [s.has_position for s in frozen] == [True, False, False, False]


def test_two_cameras_clocks_apart_interleaved_are_said(tmp_path):
    # a ride east, a photo every 10 m and 4 s, by two phones in turn; phone B's clock is 6 s
    # late, so its photos fall between the wrong ones of A's: 0, 20, 10, 40, 30, 60, 50, 70 m
    for i in range(8):
        stamp = (T0 + timedelta(seconds=4 * i + 6 * (i % 2))).strftime("%Y:%m:%d %H:%M:%S")
        write_image(tmp_path / f"{'AB'[i % 2]}{i}.jpg", seed=i, exif_time=stamp,
                    position=offset(*ORIGIN, 10.0 * i, 0.0))  # fmt: skip
    warnings = load_capture(tmp_path, CaptureOptions(duplicate_distance=0)).warnings
    assert (
        "the shots go back and forth along the walk (6 turns back in 7 steps, e.g. A0.jpg -> "
        "A2.jpg -> B1.jpg): two cameras whose clocks differ? Set their clocks alike (exiftool "
        "-AllDates+=...) or name the files in the order walked"
    ) in warnings
    # a walk out and home, and a phone's GPS wandering 6 m each way around a walker, are not
    out_home = [shot(f"s{i}", east=10.0 * min(i, 10 - i), time=5.0 * i) for i in range(11)]
    assert check_order(out_home) == []
    assert check_order([shot("a", time=0.0), shot("b", time=1.0)]) == []  # no positions
    rng = random.Random(0)
    for _ in range(50):
        wander = [shot(f"s{i}", east=rng.uniform(-6, 6), north=rng.uniform(-6, 6), time=5.0 * i)
                  for i in range(20)]  # fmt: skip
        assert check_order(wander) == []


def test_unattributable_speeds_drop_all_positions():
    shots = [shot("a", east=0.0, time=0.0), shot("b", east=500.0, time=5.0)]
    fixed, warnings = check_gps(shots, 50.0)
    assert not any(s.has_position for s in fixed)
    assert warnings == [
        "GPS ignored for the whole capture: a -> b is 500 m in 5.0 s (100 m/s, above "
        "capture.max_speed 50 m/s)"
    ]
    assert check_gps(shots, 0.0)[1] == []  # 0 disables the check


def test_use_gps_false_ignores_positions(tmp_path):
    _walk(tmp_path, 3)
    capture = load_capture(tmp_path, CaptureOptions(use_gps=False))
    assert not any(s.has_position for s in capture.shots)


# -- options ----------------------------------------------------------------------------------------


def test_options_validate_with_clear_messages():
    with pytest.raises(ValueError, match=r"^time_gap must be 0 or more, got -1.0$"):
        CaptureOptions(time_gap=-1.0)
    with pytest.raises(ValueError, match=r"^every_frames must be at least 1, got 0$"):
        CaptureOptions(every_frames=0)
    with pytest.raises(
        ValueError, match=r"^set every_frames \(5\) or every_seconds \(2.0\), not both$"
    ):
        CaptureOptions(every_frames=5, every_seconds=2.0)
    with pytest.raises(ConfigError) as err:
        config.from_dict(CaptureOptions, {"distance_gap": -3}, "capture")
    assert str(err.value) == "capture: distance_gap must be 0 or more, got -3.0"
    with pytest.raises(ConfigError, match=r"capture: unknown key 'gap'"):
        config.from_dict(CaptureOptions, {"gap": 3}, "capture")
    options = config.from_dict(
        CaptureOptions, {"time_gap": "2.5", "projection": "equirect"}, "capture"
    )
    assert options.time_gap == 2.5 and options.projection == "equirect"


# -- streaming ---------------------------------------------------------------------------------------


def test_iter_frames_streams_and_turns_panoramas(tmp_path):
    # GPS walk due east, camera centres facing north (PoseHeading 0): each frame must turn 90 right.
    _walk(tmp_path, 4, step=5.0, pose_heading=0.0, size=(64, 32))
    capture = load_capture(tmp_path)
    segment = capture.segments[0]
    assert [s.yaw_source for s in segment] == ["track+heading"] * 4
    assert [s.yaw for s in segment] == pytest.approx([90.0] * 4, abs=2.0)
    out = list(iter_frames(capture, segment))
    assert [s.name for s, _ in out] == [s.name for s in segment]
    for s, image in out:
        raw = read_image(s.path).image
        np.testing.assert_array_equal(image, np.roll(raw, -round(s.yaw / 360 * 64), axis=1))
    # apply_yaw=False hands frames over as shot
    _, plain = next(iter_frames(capture, segment, apply_yaw=False))
    np.testing.assert_array_equal(plain, read_image(segment[0].path).image)


def test_iter_frames_raises_if_a_file_changed(tmp_path):
    _walk(tmp_path, 2)
    capture = load_capture(tmp_path)
    (tmp_path / "img1.jpg").write_bytes(b"")
    frames = iter_frames(capture, capture.segments[0])
    next(frames)
    with pytest.raises(FrameError, match=r"img1\.jpg: empty file \(0 bytes\)"):
        next(frames)


# -- video ---------------------------------------------------------------------------------------


def _write_video(path, n=20, fps=10.0, size=(64, 48)):
    import imageio.v2 as imageio

    frames = [texture(size[0], size[1], seed=i) for i in range(n)]
    writer = imageio.get_writer(str(path), fps=fps, codec="libx264", macro_block_size=16, quality=9)
    for frame in frames:
        writer.append_data(frame)
    writer.close()
    return frames


def test_video_sampling_rule():
    assert [i for i in range(10) if sampled(i, FrameClock(10.0), 3, 0.0)] == [0, 3, 6, 9]
    assert [i for i in range(25) if sampled(i, FrameClock(10.0), 1, 0.5)] == [0, 5, 10, 15, 20]
    # 0.25 s at 6 fps: instants 0, .25, .5, .75 fall in frames 0, 1, 3, 4
    assert [i for i in range(6) if sampled(i, FrameClock(6.0), 1, 0.25)] == [0, 1, 3, 4]


def _write_vfr_video(path, *, trim=None):
    """60 frames: 30 at 30 frames/s (1 s), then 30 at 10 frames/s (3 s), as a phone's variable
    rate writes them (ffmpeg's average says 15.8 frames/s, its nominal rate 30). ``trim``: cut the
    first seconds off by an edit list (a stream copy), the packets before it kept but not shown."""
    import subprocess

    import imageio_ffmpeg

    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y"]
    made = path.with_name("vfr_made.mp4") if trim else path
    pts = "setpts='if(lt(N,30),N/30,1+(N-30)/10)/TB'"
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30,trim=end_frame=60",
                    "-vf", pts, "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(made)], check=True)  # fmt: skip
    if trim:
        subprocess.run([*ffmpeg, "-ss", str(trim), "-i", str(made), "-c", "copy", str(path)],
                       check=True)  # fmt: skip


def test_variable_rate_video_keeps_its_own_frame_times(tmp_path):
    video = tmp_path / "phone.mp4"
    _write_vfr_video(video)
    times = video_times(video).times
    assert len(times) == 60 and sum(1 for _ in iter_video(video)) == 60  # no frame repeated
    assert times[29] == pytest.approx(29 / 30) and times[31] == pytest.approx(1.1)
    capture = load_capture(video, CaptureOptions(every_seconds=0.5))
    assert [s.frame_index for s in capture.shots] == [0, 15, 30, 35, 40, 45, 50, 55]
    assert [s.time for s in capture.shots] == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5])
    # an edit list that starts the video 1.5 s in: the frames before it are neither listed nor
    # decoded, and the listed times start at 0
    cut = tmp_path / "cut.mp4"
    _write_vfr_video(cut, trim=1.45)
    listed = video_times(cut)
    assert len(listed.times) == sum(1 for _ in iter_video(cut)) == 25 and listed.cut == 35
    assert listed.times[:3] == pytest.approx((0.0, 0.1, 0.2))
    # ... and it is whole: no warning of a truncated file
    capture = load_capture(cut, CaptureOptions(every_seconds=0.5))
    assert [s.time for s in capture.shots] == pytest.approx([0, 0.5, 1, 1.5, 2])
    assert not [w for w in capture.warnings if "truncated" in w]


def test_an_avi_without_frame_times_keeps_its_constant_rate(tmp_path):
    # MPEG-4 Part 2 with B-frames in AVI (Xvid, DivX): the container has no time for them
    import subprocess

    import imageio_ffmpeg

    avi = tmp_path / "old_camera.avi"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x32:rate=10", "-frames:v", "30", "-c:v", "mpeg4", "-bf", "2",
                    str(avi)], check=True)  # fmt: skip
    assert video_times(avi).times == ()
    capture = load_capture(avi, CaptureOptions(every_seconds=1.0))
    assert [(s.frame_index, s.time) for s in capture.shots] == [(0, 0.0), (10, 1.0), (20, 2.0)]


def test_upright_phone_video_reads_upright_and_quietly(tmp_path, caplog):
    import subprocess

    import imageio_ffmpeg

    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y"]
    flat, upright = tmp_path / "flat.mp4", tmp_path / "upright.mp4"
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10,trim=end_frame=20",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(flat)], check=True)  # fmt: skip
    # a phone held upright records landscape frames and a display matrix turning them 90 degrees
    subprocess.run([*ffmpeg, "-display_rotation", "90", "-i", str(flat), "-c", "copy",
                    str(upright)], check=True)  # fmt: skip
    with caplog.at_level("WARNING"):
        capture = load_capture(upright, CaptureOptions(every_frames=5))
    assert capture.working_size == (64, 96) and len(capture.shots) == 4
    assert not [r for r in caplog.records if "frame size" in r.getMessage()]


def test_video_capture_samples_and_streams(tmp_path):
    video = tmp_path / "walk.mp4"
    _write_video(video, n=20, fps=10.0)
    capture = load_capture(video, CaptureOptions(every_seconds=0.5))
    assert (capture.kind, capture.time_source, capture.projection) == (
        "video",
        "video",
        "perspective",
    )
    assert capture.working_size == (64, 48)
    shots = capture.segments[0]
    assert [s.frame_index for s in shots] == [0, 5, 10, 15]
    assert [s.time for s in shots] == [0.0, 0.5, 1.0, 1.5]
    assert shots[1].name == "walk.mp4#5"
    import imageio.v2 as imageio

    decoded = [np.asarray(f) for f in imageio.get_reader(str(video), "ffmpeg")]
    for s, image in iter_frames(capture, shots):
        np.testing.assert_allclose(image, decoded[s.frame_index] / 255.0, atol=1e-6)


def test_video_too_sparse_or_unreadable(tmp_path):
    video = tmp_path / "short.mp4"
    _write_video(video, n=5, fps=10.0)
    with pytest.raises(ViewsynthError) as err:
        load_capture(video, CaptureOptions(every_frames=10))
    assert str(err.value) == (
        f"{video}: fewer than two usable frames (1 sampled every 10 frames from 5 decoded "
        "frames; sample more often)"
    )
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    with pytest.raises(ViewsynthError, match=r"fake\.mp4: not a readable video"):
        load_capture(fake)


def test_a_video_cut_short_is_used_as_far_as_it_decodes_and_said_so(tmp_path):
    """A truncated MP4 decodes without an error, only fewer frames: the capture says so."""
    from viewsynth.export.video import VideoWriter

    video = tmp_path / "walk.mp4"
    with VideoWriter(video, 10, quality=9) as writer:  # (faststart: the index first, as cameras)
        for i in range(40):
            writer.write(texture(64, 48, seed=i))
    whole = load_capture(video, CaptureOptions(every_frames=5))
    assert not any("truncated" in w for w in whole.warnings)
    cut = tmp_path / "cut.mp4"
    data = video.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    capture = load_capture(cut, CaptureOptions(every_frames=5))
    (said,) = [w for w in capture.warnings if "truncated" in w]
    assert (
        said.startswith("cut.mp4: ") and "frames decoded, but its MP4 boxes are cut short" in said
    )
    kept = [s.frame_index for s in capture.segments[0]]
    assert (
        2 <= len(kept) < len(whole.segments[0])
        and kept == [s.frame_index for s in whole.segments[0]][: len(kept)]
    )


# -- real captures ------------------------------------------------------------------------------------


@pytest.mark.skipif(not (DATA / "lund" / "images").is_dir(), reason="needs ../shared/data/lund")
def test_lund_shuffled_names_come_back_in_capture_order(tmp_path):
    originals = sorted((DATA / "lund" / "images").glob("*.jpg"))
    assert len(originals) == 29
    names = [f"photo_{k:03d}.jpg" for k in random.Random(7).sample(range(1000), len(originals))]
    renamed = {}
    for src, name in zip(originals, names, strict=True):
        shutil.copy(src, tmp_path / name)
        renamed[name] = src.name
    capture = load_capture(tmp_path)
    assert capture.time_source == "mapillary"
    assert capture.projection == "perspective" and capture.working_size == (1024, 768)
    assert len(capture.segments) == 1
    order = [renamed[s.name] for s in capture.segments[0]]
    # 01..29 are in capture order; 27, 28 and 29.jpg share one GPS fix (it stuck) and 29 turned
    # 4.7 deg from 28: mapillary_tools' rule takes it for a duplicate, but the pictures moved.
    assert order == [f"{i:02d}.jpg" for i in range(1, 30)]
    times = [s.time for s in capture.segments[0]]
    assert (
        times == sorted(times)
        and times[0] == datetime(2014, 6, 7, 10, 24, 5, 656000, tzinfo=UTC).timestamp()
    )
    assert capture.skipped == []
    gps_only = load_capture(tmp_path, CaptureOptions(duplicate_images=False))
    assert [(renamed[n], r) for n, r in gps_only.skipped] == [
        (
            "29.jpg",
            f"stationary duplicate of {_key(renamed, '28.jpg')} (0.00 m away, heading 4.7 deg different)",
        )
    ]
    assert all(s.yaw == 0.0 for s in capture.shots)  # perspective frames are shown as they are
    # the stuck fix is 27's alone; 28 and 29, with no fix after them, have none
    placed = [s for s in capture.segments[0] if s.has_position]
    assert [renamed[s.name] for s in placed] == [f"{i:02d}.jpg" for i in range(1, 28)]
    assert any(w.startswith("GPS frozen at 55.699708, 13.194522 from ") for w in capture.warnings)
    steps = [
        haversine(a.lat, a.lon, b.lat, b.lon) for a, b in zip(placed, placed[1:], strict=False)
    ]
    assert max(steps) < 30.0 and float(np.median(steps)) == pytest.approx(7.0, abs=1.5)


def _key(mapping, value):
    return next(k for k, v in mapping.items() if v == value)


@pytest.mark.skipif(
    not (DATA / "openvslam_pair").is_dir(), reason="needs ../shared/data/openvslam_pair"
)
def test_openvslam_pair_with_doubtful_gps_is_a_two_frame_capture():
    capture = load_capture(DATA / "openvslam_pair")
    assert capture.projection == "equirect" and capture.working_size == (1920, 960)
    assert capture.time_source == "gps"
    assert [[s.name for s in seg] for seg in capture.segments] == [
        ["equirectangular_image_001.jpg", "equirectangular_image_002.jpg"]
    ]
    assert capture.skipped == [("LICENSE.openvslam", "not an image")]
    # 79 m in 20 s would cut the pair apart at the 30 m distance gap: the GPS is dropped instead,
    # and the heading comes from the tags (135 deg both) refined by the image-measured turn.
    assert any(
        w.startswith("GPS ignored for equirectangular_image_001.jpg") for w in capture.warnings
    )
    assert not any(s.has_position for s in capture.shots)
    assert [s.yaw_source for s in capture.shots] == ["heading", "heading"]
    assert all(abs(s.yaw) < 2.0 for s in capture.shots)
    # The second shot turned about 1.6 deg right (the panorama content moved left).
    assert capture.shots[1].rotation == pytest.approx(1.6, abs=0.3)


@pytest.mark.skipif(not SAMPLES.joinpath("openvslam").is_dir(), reason="sample capture not in repo")
def test_shipped_sample_capture_loads():
    capture = load_capture(SAMPLES / "openvslam")
    assert len(capture.segments) == 1 and len(capture.segments[0]) == 2


@pytest.mark.skipif(
    not (DATA / "udacity_driving" / "solidWhiteRight.mp4").is_file(), reason="needs udacity video"
)
def test_udacity_video_sampled_every_n_frames():
    capture = load_capture(
        DATA / "udacity_driving" / "solidWhiteRight.mp4", CaptureOptions(every_frames=20)
    )
    shots = capture.segments[0]
    assert [s.frame_index for s in shots] == list(range(0, 221, 20))
    assert [s.time for s in shots] == pytest.approx([i / 25.0 for i in range(0, 221, 20)])
    assert capture.projection == "perspective" and capture.working_size == (960, 540)
    first = next(iter_frames(capture, shots))[1]
    assert first.shape == (540, 960, 3) and first.dtype == np.float32


def test_reading_a_folder_reports_its_progress(tmp_path):
    # Hundreds of 5.7K panoramas take minutes to decode before the first output frame, and the
    # bar stood at 0 all that time (only a video's frames were told). A bad file counts too.
    folder = tmp_path / "walk"
    folder.mkdir()
    for i in range(4):
        write_image(folder / f"{i:02d}.jpg", seed=i, position=offset(*ORIGIN, 0.0, 2.0 * i))
    (folder / "04.jpg").write_bytes(b"\xff\xd8 not really")
    told = []
    capture = load_capture(folder, progress=lambda *n: told.append(n))
    assert len(capture.shots) == 4
    assert told == [(k, 5) for k in range(1, 6)]
