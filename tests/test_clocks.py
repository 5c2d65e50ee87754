"""Camera clocks: each camera's offset from GPS time, measured where its frames have both times,
orders a mix of cameras and geotags by --gpx; the manifest records it."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from capture_fixtures import DATA, ORIGIN, offset, write_image
from test_gpx import _gpx, _track

from viewsynth.capture import CaptureOptions, Metadata, load_capture
from viewsynth.capture.clocks import camera_clocks
from viewsynth.capture.heading import haversine

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
PHONE = ("Apple", "iPhone 12", None)
GR = ("RICOH", "GR III", "1234")


def _stamp(when: datetime) -> dict:
    """EXIF DateTimeOriginal and SubSecTimeOriginal of the local clock reading ``when``."""
    return {"exif_time": when.strftime("%Y:%m:%d %H:%M:%S"), "subsec": f"{when:%f}"[:2]}


def test_two_cameras_one_clock_off_are_ordered_by_their_clocks_measured_against_gps(tmp_path):
    # A ride east, a photo every 10 m and 4.3 s, by a phone (GPS time; EXIF local time UTC+2, no
    # OffsetTimeOriginal) and a camera in turn whose clock is UTC+2 and 50 s fast, with GPS time
    # on two of its four photos only. Ordered by the EXIF clocks as written, the camera's photos
    # fell 50 s late, among the wrong ones of the phone's.
    for i in range(8):
        utc = T0 + timedelta(seconds=4.3 * i)
        phone = i % 2 == 0
        local = utc + timedelta(hours=2, seconds=0 if phone else 50)
        write_image(
            tmp_path / f"{'PC'[i % 2]}{i}.jpg", seed=i, position=offset(*ORIGIN, 10.0 * i, 0.0),
            gps_time=utc.replace(microsecond=0) if phone or i in (1, 5) else None,
            camera=PHONE if phone else GR, **_stamp(local),
        )  # fmt: skip
    capture = load_capture(tmp_path, CaptureOptions(duplicate_distance=0, duplicate_images=False))
    assert capture.time_source == "exif"
    assert [s.name for s in capture.shots] == [f"{'PC'[i % 2]}{i}.jpg" for i in range(8)]
    assert len(capture.segments) == 1
    # UTC: each camera's reading less its offset (the half second a whole GPS second hides: 0.5)
    assert [s.utc - T0.timestamp() for s in capture.shots] == pytest.approx(
        [4.3 * i for i in range(8)], abs=0.5
    )
    assert capture.warnings == [
        "RICOH GR III #1234's clock is 49.9 s ahead of GPS time beyond its time zone (UTC+02:00), "
        "by its 2 frame(s) with both times (spread 0.2 s): its 4 frames' times are set by it"
    ]
    phone, camera = capture.clocks
    assert phone["camera"] == "Apple iPhone 12" and phone["by"] == "gps" and phone["used"]
    assert phone["offset_s"] == pytest.approx(7200.0, abs=0.5) and phone["measured_frames"] == 4
    assert camera == {
        "camera": "RICOH GR III #1234", "frames": 4, "by": "gps", "used": True,
        "offset_s": 7249.9, "local": True, "measured_frames": 2, "spread_s": [7250.3, 7250.5],
    }  # fmt: skip


def test_a_camera_without_any_gps_time_in_a_mix_is_said_and_nothing_is_shifted(tmp_path):
    for i in range(4):
        utc = T0 + timedelta(seconds=5 * i)
        phone = i % 2 == 0
        write_image(tmp_path / f"{i}.jpg", seed=i, camera=PHONE if phone else GR,
                    gps_time=utc if phone else None, **_stamp(utc + timedelta(hours=2)))  # fmt: skip
    capture = load_capture(tmp_path)
    assert [s.name for s in capture.shots] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]
    assert all(s.utc is None for s in capture.shots)  # local readings, as before
    assert capture.warnings == [
        "no frame of RICOH GR III #1234 (2 frames) has a GPS time to set its clock by: all frames "
        "are ordered by their cameras' own clocks, as written (--gpx-offset or exiftool "
        "-AllDates+=... to align)"
    ]
    assert [c["by"] for c in capture.clocks] == ["gps", "unknown"]


def test_a_gpx_places_a_cameras_photos_by_its_clock_measured_on_two_of_them(tmp_path):
    # One camera, its clock UTC+2 and 50 s fast; a phone app wrote GPS (time and position) on
    # photos 0 and 4 only. As written, its times missed the GPX (an error asking for
    # --gpx-offset); now they are UTC, and the others are placed where they were taken.
    gpx = _gpx(tmp_path / "walk.gpx", _track(n=40))
    folder = tmp_path / "cap"
    folder.mkdir()
    for i in range(5):
        utc = T0 + timedelta(seconds=3 + 7.25 * i)
        write_image(
            folder / f"p{i}.jpg", seed=i, camera=GR,
            gps_time=utc.replace(microsecond=0) if i in (0, 4) else None,
            position=offset(*ORIGIN, 3 + 7.25 * i, 0.0) if i in (0, 4) else None,
            **_stamp(utc + timedelta(hours=2, seconds=50)),
        )  # fmt: skip
    capture = load_capture(folder, CaptureOptions(gpx=str(gpx), duplicate_images=False))
    for i, s in enumerate(capture.shots):
        assert haversine(s.lat, s.lon, *offset(*ORIGIN, 3 + 7.25 * i, 0.0)) < 0.6
    assert capture.clocks[0]["offset_s"] == pytest.approx(7250.0, abs=0.5)
    # --gpx-offset still decides: the user's one offset, the camera's clock as written
    local = load_capture(folder, CaptureOptions(gpx=str(gpx), gpx_offset=-7250.0))
    assert [c["used"] for c in local.clocks] == [False]
    for i, s in enumerate(local.shots):
        assert haversine(s.lat, s.lon, *offset(*ORIGIN, 3 + 7.25 * i, 0.0)) < 0.3


def test_a_stale_fix_does_not_move_the_median_and_offsets_alone_stay_utc():
    t = T0.timestamp()
    metas = [
        Metadata(gps_time=t + g, exif_time=t + e, exif_offset=0.0, camera="X")
        for g, e in ((0, 30.2), (10, 40.3), (-60, 50.1))  # the third a phone's fix a minute old
    ]
    (clock,) = camera_clocks(metas)
    assert (clock.offset, clock.low, clock.high) == pytest.approx((29.8, 30.2, 110.1))
    assert not clock.local and clock.error == pytest.approx(29.8)  # OffsetTimeOriginal: no zone
    (clock,) = camera_clocks([Metadata(exif_time=t, exif_offset=3600.0)])
    assert (clock.offset, clock.by) == (0.0, "OffsetTimeOriginal")


@pytest.mark.skipif(
    shutil.which("exiftool") is None or not (DATA / "lund" / "images").is_dir(),
    reason="needs exiftool and ../shared/data/lund",
)
def test_lunds_real_photos_retagged_as_a_phone_and_a_camera_50_s_fast(tmp_path):
    # The first 12 of lund's photos (a walk, about 6 s apart; MAPCaptureTime the truth), every
    # other one a phone's (GPS time, EXIF local UTC+2), the others a camera's, its clock 50 s
    # fast, GPS time on two; retagged with exiftool as the cameras write them.
    originals = sorted((DATA / "lund" / "images").glob("*.jpg"))[:12]
    truth, args, folder = {}, [], tmp_path / "cap"
    folder.mkdir()
    for i, src in enumerate(originals):
        dst = shutil.copy(src, folder / src.name)
        description = json.loads(
            subprocess.run(["exiftool", "-b", "-ImageDescription", str(src)], capture_output=True,
                           text=True, check=True).stdout
        )  # fmt: skip
        utc = datetime.strptime(description["MAPCaptureTime"], "%Y_%m_%d_%H_%M_%S_%f")
        utc = utc.replace(tzinfo=UTC)
        truth[src.name] = utc.timestamp()
        phone = i % 2 == 0
        local = utc + timedelta(hours=2, seconds=0 if phone else 50)
        args += ["-ImageDescription=", f"-Make={'Apple' if phone else 'RICOH'}",
                 f"-Model={'iPhone 6' if phone else 'GR III'}",
                 f"-DateTimeOriginal={local:%Y:%m:%d %H:%M:%S}",
                 f"-SubSecTimeOriginal={local:%f}"[:-4]]  # fmt: skip
        if phone or i in (3, 9):
            args += [f"-GPSDateStamp={utc:%Y:%m:%d}", f"-GPSTimeStamp={utc:%H:%M:%S}"]
        args += ["-overwrite_original", "-q", str(dst), "-execute"]
    (tmp_path / "args.txt").write_text("\n".join(args) + "\n")
    subprocess.run(["exiftool", "-@", str(tmp_path / "args.txt")], check=True)
    capture = load_capture(folder, CaptureOptions(duplicate_images=False))
    assert [s.name for s in capture.shots] == [p.name for p in originals]
    assert max(abs(s.utc - truth[s.name]) for s in capture.shots) < 0.5
    assert [w[:46] for w in capture.warnings] == ["RICOH GR III's clock is 49.9 s ahead of GPS ti"]


def test_a_clock_set_to_a_three_quarter_hour_zone_is_not_off():
    # Nepal is UTC+05:45: a camera set right there read as 15 min behind UTC+06:00 (half hours).
    t = T0.timestamp()
    metas = [Metadata(gps_time=t + k, exif_time=t + k + 20700.2, camera="Canon") for k in (0, 9)]
    (clock,) = camera_clocks(metas)
    assert clock.error == pytest.approx(0.2 - 0.5) and clock.warning() is None
    metas = [Metadata(gps_time=t + k, exif_time=t + k + 20760.5, camera="Canon") for k in (0, 9)]
    assert "1 min 0.0 s ahead of GPS time beyond its time zone (UTC+05:45)" in (
        camera_clocks(metas)[0].warning()
    )


def test_frames_that_disagree_about_one_cameras_clock_are_said():
    # Two GR IIIs without serial numbers, their clocks 0 and 8 s fast: one "camera" whose frames
    # say 0 and 8 s. No warning said so (8 s less the median's 4 is under 5 s off).
    t = T0.timestamp()
    metas = [
        Metadata(gps_time=t + 20 * k, exif_time=t + 20 * k + 7200.5 + (8 if k % 2 else 0),
                 exif_offset=None, camera="RICOH GR III")
        for k in range(6)
    ]  # fmt: skip
    (clock,) = camera_clocks(metas)
    assert clock.apart == 0  # (4 s from their median: within the 5 s a clock may be off)
    metas = [dataclasses.replace(m, exif_time=m.exif_time + 32 * (k % 2)) for k, m in
             enumerate(metas)]  # fmt: skip
    (clock,) = camera_clocks(metas)
    assert clock.apart == 6
    assert clock.warning().startswith(
        "RICOH GR III's 6 frames with GPS and EXIF times disagree by up to 40.0 s about its clock"
    )
    # one stale fix of three does not (a phone's GPS time a minute old)
    metas = [Metadata(gps_time=t + g, exif_time=t + e, camera="X") for g, e in
             ((0, 0.2), (10, 10.3), (-60, 20.1))]  # fmt: skip
    assert camera_clocks(metas)[0].apart == 1 and camera_clocks(metas)[0].warning() is None


def test_offset_time_original_that_set_the_times_is_recorded_as_used(tmp_path):
    # Every photo with OffsetTimeOriginal and no GPS time: the times are UTC by it, and the
    # manifest said it was not used.
    folder = tmp_path / "walk"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"{i}.jpg", **_stamp(T0 + timedelta(seconds=5 * i)), seed=i,
                    offset_time="+02:00")  # fmt: skip
    capture = load_capture(folder, CaptureOptions())
    assert [(c["by"], c["used"]) for c in capture.clocks] == [("OffsetTimeOriginal", True)]
