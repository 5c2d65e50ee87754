"""Standing still: shots whose picture shows the camera did not move are stops, dropped as
duplicates, whatever a jittering GPS says; a turn on the spot or a small step is not one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from capture_fixtures import ORIGIN, offset, shot, texture, write_image

from viewsynth.capture import CaptureOptions, load_capture
from viewsynth.capture.heading import haversine
from viewsynth.capture.schedule import schedule_segment
from viewsynth.capture.still import MOVED_PX, Look, StillWatch, compare, drop_still, thumbnail
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.datasets import AS_STORED

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def _as_camera_gives(image: np.ndarray, seed: int) -> np.ndarray:
    """``image`` (uint8) shot again from the same spot: sensor noise, exposure drift, JPEG."""
    rng = np.random.default_rng(seed)
    noisy = image * rng.uniform(0.95, 1.05) + rng.normal(0.0, 4.0, image.shape)
    ok, data = cv2.imencode(".jpg", np.clip(noisy, 0, 255).astype(np.uint8), [1, 80])
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def _zoomed(image: np.ndarray, scale: float) -> np.ndarray:
    """A photo a step forward: the view enlarged about its centre (radial flow, no turn)."""
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), 0.0, scale)
    return cv2.warpAffine(
        image, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def test_the_same_view_again_stands_a_turn_turns_and_a_small_step_moves():
    pano = texture(128, 64, seed=1)
    base = thumbnail(pano)
    for seed in range(3):  # noise, exposure, re-encoding: the same view
        again = compare(base, thumbnail(_as_camera_gives(pano, seed)), equirect=True, span=360.0)
        assert again.stood and again.turn < 1.0, again
    # a turn on the spot: the camera stood, the view turned (a panorama's columns rolled)
    turned = compare(base, thumbnail(np.roll(pano, 8, axis=1)), equirect=True, span=360.0)
    assert turned.stood and turned.turn == pytest.approx(22.5, abs=1.0)
    # a photo: one step forward enlarges the view by 1 % (slow: a dashcam's next frame)
    photo = texture(128, 96, seed=2)
    step = compare(thumbnail(photo), thumbnail(_zoomed(photo, 1.01)), equirect=False, span=60.0)
    assert not step.stood and step.parallax > 2 * MOVED_PX, step
    assert compare(thumbnail(photo), thumbnail(photo), equirect=False, span=60.0).parallax == 0.0


def test_the_watch_compares_each_frame_with_the_last_of_another_view():
    a, b = texture(128, 64, seed=1), texture(128, 64, seed=2)
    watch = StillWatch(angle=5.0)
    for name, image in [("0", a), ("1", a), ("2", _as_camera_gives(a, 0)), ("3", b), ("4", b)]:
        watch.add(name, image, equirect=True, hfov=None)
    assert [watch.looks[n].ref for n in "1234"] == ["0", "0", "0", "3"]
    assert [watch.looks[n].stood for n in "1234"] == [True, True, False, True]


def _look(ref: str, turn: float = 0.0, parallax: float = 0.0) -> Look:
    return Look(ref, parallax, turn)


def test_a_stop_keeps_its_first_shot_at_its_fixes_mean_and_a_turn_on_the_spot():
    shots = [
        shot("a", east=0.0, time=0),
        shot("b", east=5.0, time=1),  # the stop: b, its fixes wander 1-4 m
        shot("c", east=8.0, north=1.0, time=2),
        shot("d", east=2.0, north=-2.0, time=3),
        shot("e", east=6.0, north=3.0, time=4),  # turned on the spot: kept, at the stop
        shot("f", east=5.0, north=-2.0, time=5),
        shot("g", east=30.0, time=6),  # the same picture, but 25 m on: kept (fog, a truck ahead)
        shot("h", east=35.0, time=7),
    ]
    looks = {
        "b": _look("a", parallax=3.0),
        "c": _look("b"),
        "d": _look("b", turn=2.0),
        "e": _look("b", turn=40.0),
        "f": _look("e"),
        "g": _look("e"),
        "h": _look("g", parallax=2.0),
    }
    kept, dropped, stops = drop_still(shots, looks, 5.0)
    assert [s.name for s in kept] == ["a", "b", "e", "g", "h"] and stops == 1
    assert [name for name, _ in dropped] == ["c", "d", "f"]
    assert dropped[0][1].startswith("standing still: the view of b again (parallax 0.00 px,")
    assert dropped[2][1].startswith("standing still: the view of e again")
    east, north = np.mean([5.0, 8.0, 2.0, 6.0, 5.0]), np.mean([0.0, 1.0, -2.0, 3.0, -2.0])
    at = offset(*ORIGIN, east, north)
    for s in kept[1:3]:  # one place for the stop: no heading follows the jitter
        assert haversine(s.lat, s.lon, *at) < 0.01
    assert kept[0] == shots[0] and kept[3] == shots[6]
    # no pictures compared: nothing is taken for a stop
    assert drop_still(shots, {}, 5.0)[0] == shots


def _stop_walk(folder, *, held: int, jitter: float) -> list[str]:
    """Panoramas walking east 5 m every 2 s, standing at the third one for ``held`` more shots,
    as a camera gives them (noise, exposure, JPEG) with GPS wandering ``jitter`` m around it."""
    pictures = [texture(128, 64, seed=i) for i in range(5)]
    plan = [(0, 0.0), (1, 5.0), (2, 10.0)] + [(2, 10.0)] * held + [(3, 15.0), (4, 20.0)]
    names = []
    for k, (picture, east) in enumerate(plan):
        image = pictures[picture]
        north = 0.0
        if k > 2 and picture == 2:
            image = _as_camera_gives(image, k)
            angle = 2.4 * k  # (radians: each fix off the last by about 1.5 jitter)
            east, north = east + jitter * np.cos(angle), jitter * np.sin(angle)
        names.append(f"p{k:02d}.jpg")
        write_image(
            folder / names[-1],
            image,
            position=offset(*ORIGIN, east, north),
            gps_time=T0 + timedelta(seconds=2 * k),
        )
    return names


def test_a_walker_waiting_with_gps_jitter_is_one_shot_facing_the_way_walked(tmp_path):
    names = _stop_walk(tmp_path, held=6, jitter=4.0)
    capture = load_capture(tmp_path, CaptureOptions(projection="equirect"))
    assert [s.name for s in capture.shots] == [
        "p00.jpg",
        "p01.jpg",
        "p02.jpg",
        "p09.jpg",
        "p10.jpg",
    ]
    assert [n for n, _ in capture.skipped] == names[3:9]
    assert all(
        why.startswith("standing still: the view of p02.jpg again") for _, why in capture.skipped
    )
    assert (
        "standing still: 6 shot(s) dropped at 1 stop(s), their pictures the view before them "
        "again, GPS within 8 m (capture.duplicate_images=false keeps them)"
    ) in capture.warnings
    stop = capture.shots[2]
    assert haversine(stop.lat, stop.lon, *offset(*ORIGIN, 10.0, 0.0)) < 4.0  # the fixes' mean
    assert all(abs(s.view_heading - 90.0) < 5.0 for s in capture.shots)  # east all along
    # off: every shot kept, the walk stalls there and the view follows the jitter
    every = load_capture(tmp_path, CaptureOptions(projection="equirect", duplicate_images=False))
    assert len(every.shots) == len(names) and not every.skipped
    assert max(abs(s.view_heading - 90.0) for s in every.shots) > 5.0


def test_without_gps_the_pictures_alone_find_the_stop(tmp_path):
    for k, name in enumerate(["a.jpg", "b.jpg", "c.jpg", "d.jpg"]):
        picture = texture(128, 64, seed=min(k, 2))
        write_image(tmp_path / name, picture if k < 3 else _as_camera_gives(picture, k))
    capture = load_capture(tmp_path)
    assert capture.time_source == "filename"
    assert [s.name for s in capture.shots] == ["a.jpg", "b.jpg", "c.jpg"]
    assert capture.skipped[0][0] == "d.jpg" and "GPS" not in capture.skipped[0][1]


def test_leave_one_out_keeps_every_frame():
    assert AS_STORED.duplicate_images is False


def test_a_video_held_at_a_red_light_keeps_the_first_held_frame(tmp_path):
    import imageio.v2 as imageio

    video = tmp_path / "ride.mp4"
    writer = imageio.get_writer(str(video), fps=10, codec="libx264", macro_block_size=8)
    for k, seed in enumerate([0, 1, 2, 2, 2, 2, 3, 4]):  # frames 2-5: one view, with sensor noise
        writer.append_data(_as_camera_gives(texture(128, 72, seed=seed), k))
    writer.close()
    capture = load_capture(video)
    assert [s.frame_index for s in capture.shots] == [0, 1, 2, 6, 7]
    assert [n for n, _ in capture.skipped] == ["ride.mp4#3", "ride.mp4#4", "ride.mp4#5"]
    assert len(load_capture(video, CaptureOptions(duplicate_images=False)).shots) == 8


def test_blank_pictures_are_not_judged():
    # a lens cap, fog: no texture, no motion to see; grey levels alone tell nothing
    grey = [np.full((32, 48, 3), level, np.uint8) for level in (20, 40, 40)]
    assert thumbnail(grey[0]) is None
    watch = StillWatch(angle=5.0)
    for name, image in zip("abc", [*grey[:2], texture(48, 32)], strict=True):
        watch.add(name, image, equirect=False, hfov=None)
    assert watch.looks == {}  # (c: compared with nothing after a blank frame)


def test_spacing_on_a_video_counts_no_metres_while_the_pictures_stand(tmp_path):
    # A car at 5 m/s (10 fps) that waits 2 s at a red light (frames 20-40: one view, with sensor
    # noise) while its GPS wanders 4 m out and back. --spacing 1: the stop's jitter made 8 steps
    # of the one view (the walkthrough crept there); now it counts no metres, so none is made.
    seeds = [20 if 20 <= k <= 40 else k for k in range(61)]
    track = [(0, 0.0, 0.0), (1, 5.0, 0.0), (2, 10.0, 0.0), (3, 13.0, -3.0), (4, 10.0, 0.0),
             (5, 15.0, 0.0), (6, 20.0, 0.0)]  # fmt: skip
    video, gpx = _ride(tmp_path / "ride", seeds, track)

    def steps_at_the_stop(duplicate_images: bool) -> tuple[int, int]:
        options = CaptureOptions(gpx=str(gpx), every_metres=1.0, duplicate_images=duplicate_images)
        capture = load_capture(video, options, spacing=1.0, progress=lambda *n: told.append(n))
        (segment,) = capture.segments
        schedule, _ = schedule_segment(segment, spacing=1.0)
        pairs = [(segment[p.index].frame_index, segment[p.index + 1].frame_index, len(p.times))
                 for p in schedule]  # fmt: skip
        return sum(n for a, b, n in pairs if 20 <= a and b <= 40), sum(n for *_, n in pairs)

    told: list[tuple[int, int | None]] = []
    (stop, steps), (crept, every) = steps_at_the_stop(True), steps_at_the_stop(False)
    assert stop == 0 and crept >= 6  # (not compared: the jitter counted as metres there)
    # the bar counts every frame decoded: five a second first (31 of 61), then those kept
    assert told[:31] == [(k, 31) for k in range(1, 32)] and told[31][0] == 32 < told[31][1]
    assert 21 <= steps < every  # 20 m driven (and 3 m to the stop's fixes' mean and back)


def test_one_dis_for_the_whole_watch_measures_as_a_new_one_each_time():
    # (making a DIS flow cost as much as half a comparison: the watch now keeps one)
    frames = [_as_camera_gives(texture(256, 144, seed=min(k, 2)), k) for k in range(5)]
    watch = StillWatch(angle=5.0)
    for k, image in enumerate(frames):
        watch.add(str(k), image, equirect=False, hfov=None)
    thumbs = [thumbnail(image) for image in frames]
    for name, look in watch.looks.items():
        fresh = compare(thumbs[int(look.ref)], thumbs[int(name)], equirect=False, span=60.0)
        assert look == dataclasses.replace(fresh, ref=look.ref)
    assert [watch.looks[n].stood for n in "1234"] == [False, False, True, True]


def test_a_video_that_only_stands_still_says_so_and_how_to_count_its_gps(tmp_path):
    # A camera held at one place for 3 s while its GPS wanders 2 m: --spacing 1 found fewer than
    # two frames and said "sample more often", which no sampling helps.
    track = [(0, 0.0, 0.0), (1, 2.0, 0.0), (2, 0.0, 0.0), (3, 2.0, 0.0)]
    video, gpx = _ride(tmp_path / "hold", [20] * 31, track)
    options = CaptureOptions(gpx=str(gpx), every_metres=1.0)
    with pytest.raises(ViewsynthError) as err:
        load_capture(video, options, spacing=1.0)
    assert str(err.value).startswith(f"{video}: fewer than two usable frames")
    assert "stand still in 31 of them" in str(err.value)
    assert str(err.value).endswith("--set capture.duplicate_images=false counts the GPS's)")
    counted = dataclasses.replace(options, duplicate_images=False)
    assert len(load_capture(video, counted, spacing=1.0).shots) >= 2


def _ride(stem, seeds, track):
    """``stem``.mp4, a 10 fps video of one texture per frame (``seeds``, each as a camera gives it,
    from 10:00:00 UTC), and ``stem``.gpx of ``track``: (second, metres east, north) of ORIGIN."""
    import imageio.v2 as imageio

    video, gpx = stem.with_suffix(".mp4"), stem.with_suffix(".gpx")
    writer = imageio.get_writer(
        str(video), fps=10, codec="libx264", macro_block_size=8,
        output_params=["-metadata", "creation_time=2024-05-01T10:00:00Z"],
    )  # fmt: skip
    for k, seed in enumerate(seeds):
        writer.append_data(_as_camera_gives(texture(256, 144, seed=seed), k))
    writer.close()
    rows = "".join(
        f'<trkpt lat="{lat:.8f}" lon="{lon:.8f}"><time>2024-05-01T10:00:0{t}Z</time></trkpt>'
        for t, east, north in track
        for lat, lon in [offset(*ORIGIN, east, north)]
    )
    gpx.write_text(f'<gpx version="1.1"><trk><trkseg>{rows}</trkseg></trk></gpx>')
    return video, gpx
