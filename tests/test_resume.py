"""Resume inside a segment: closed MP4 pieces, a killed run, a re-run that redoes one chunk.

Every frame carries its own number as horizontal bands (bit b of the number: rows 4b..4b+3
white), which survive H.264 at a high quality and the yaw roll of a panorama. A killed run and
its re-run must give videos whose decoded numbers are exactly 0..N-1, once each.
"""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from viewsynth import config as config_lib
from viewsynth import frames
from viewsynth.capture import CaptureOptions
from viewsynth.errors import ViewsynthError
from viewsynth.export.chunks import join_pieces, piece_path, remove_pieces
from viewsynth.export.spherical import ffmpeg_projection
from viewsynth.export.video import VideoWriter
from viewsynth.walkthrough import InterpolateSettings, ViewOptions, fingerprints, run_capture
from viewsynth.walkthrough.resume import STATE_FILE, Ledger, read_state

BITS = 8
FACTOR = 4
HERE = Path(__file__).resolve().parent


def pattern(index: int, width: int = 64) -> np.ndarray:
    """A ``(32, width, 3)`` uint8 frame whose bands spell ``index`` in binary."""
    img = np.zeros((4 * BITS, width, 3), np.uint8)
    for b in range(BITS):
        if (index >> b) & 1:
            img[4 * b : 4 * b + 4] = 255
    return img


def decode(img: np.ndarray) -> int:
    """The number a (decoded, float or uint8) pattern frame spells."""
    img = np.asarray(img, np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)
    return sum(1 << b for b in range(BITS) if img[4 * b + 1 : 4 * b + 3].mean() > 0.5)


def video_numbers(path: Path) -> list[int]:
    return [decode(img) for _, img in frames.iter_video(path)]


def duration(path: Path) -> float:
    """The duration ffmpeg reports for ``path`` (``Duration: HH:MM:SS.ss``), in seconds."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)]
    log = subprocess.run(cmd, capture_output=True, text=True).stderr
    h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", log).groups()
    return int(h) * 3600 + int(m) * 60 + float(s)


class PatternInterp:
    """Frames numbered from the first frame of the pair: frame ``idx0 + round(t * FACTOR)``.

    ``die_at``: on the call for that pair, raise (``"raise"``) or SIGKILL this process
    (``"kill"``), as a crash or the OOM killer would. ``pairs`` lists the pairs interpolated.
    """

    name = "pattern"

    def __init__(self, width: int = 64, die_at: int | None = None, how: str = "raise"):
        self.width, self.die_at, self.how = width, die_at, how
        self.pairs: list[int] = []

    def record(self) -> dict:
        return {"method": self.name}

    def last_pair(self) -> dict:
        return {"first": self.first}  # (the manifest's record of the pair)

    def __call__(self, img0, img1, times, *, equirect=False, hfov=None):
        first = self.first = decode(img0)
        pair = first // FACTOR
        if pair == self.die_at:
            if self.how == "kill":
                import os

                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"simulated crash in pair {pair}")
        self.pairs.append(pair)
        out = [pattern(first + round(t * FACTOR), self.width) for t in times]
        return np.stack(out).astype(np.float32) / 255.0


def make_capture(folder: Path, n: int, width: int) -> Path:
    """``n`` PNG frames, frame k numbered k * FACTOR (its place in the walkthrough)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        frames.write_image(folder / f"f{k:03d}.png", pattern(k * FACTOR, width))
    return folder


#: The pattern frames differ in light, not in place: the pictures of a camera standing still,
#: which ``capture.duplicate_images`` would drop.
KEEP_ALL = CaptureOptions(duplicate_images=False)


def settings(chunk_frames: int = 7) -> InterpolateSettings:
    return InterpolateSettings(
        method="linear", factor=FACTOR, quality=10, frames=True, chunk_frames=chunk_frames,
        view=ViewOptions(width=32, height=16), capture=KEEP_ALL,
    )  # fmt: skip


@pytest.mark.parametrize("tail", [3, 2, 1])
@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_pieces_join_into_every_frame_once_with_continuous_timestamps(tmp_path, codec, tail):
    # A last piece of one or two frames has no reordered frames (its decode times start at its
    # first picture's, two frames later than the others'): still every frame once, none longer.
    pieces = []
    for c, (start, stop) in enumerate([(0, 7), (7, 14), (14, 14 + tail)]):
        pieces.append(piece_path(tmp_path, "w.mp4", c))
        pieces[-1].parent.mkdir(exist_ok=True)
        with VideoWriter(pieces[-1], 10, 10, codec, faststart=False) as writer:
            for i in range(start, stop):
                writer.write(pattern(i))
    # a join SIGKILLed before its rename left the whole video aside, under its process id
    (tmp_path / ".w.mp4.part-99999999.mp4").write_bytes(b"a killed run's joined video")
    join_pieces(pieces, tmp_path / "w.mp4", codec=codec, spherical=True)
    assert video_numbers(tmp_path / "w.mp4") == list(range(14 + tail))
    assert duration(tmp_path / "w.mp4") == pytest.approx((14 + tail) / 10, abs=0.011)
    assert ffmpeg_projection(tmp_path / "w.mp4") == "equirectangular"
    remove_pieces(tmp_path, "w.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.mp4"]


def test_a_failed_join_leaves_nothing_at_the_output_path(tmp_path):
    piece = piece_path(tmp_path, "w.mp4", 0)
    piece.parent.mkdir()
    piece.write_bytes(b"not a video")
    with pytest.raises(ViewsynthError, match=r"w\.mp4: joining 1 pieces failed"):
        join_pieces([piece], tmp_path / "w.mp4")
    assert [p.name for p in tmp_path.iterdir()] == [".parts"]


@pytest.mark.parametrize("panoramic", [True, False])
def test_a_crashed_run_resumes_at_its_unfinished_chunk_with_every_frame_once(tmp_path, panoramic):
    width = 64 if panoramic else 48
    capture = make_capture(tmp_path / "cap", n=9, width=width)
    out = tmp_path / "out"
    n = 8 * FACTOR + 1
    # Pair 6 crashes with frames 0..24 written: 3 chunks of 7 are closed, the 4th is not.
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_capture(capture, out, settings(), interpolator=PatternInterp(width, die_at=6))
    video = "walkthrough_360.mp4" if panoramic else "walkthrough.mp4"
    assert not (out / video).exists() and not (out / "manifest.json").exists()
    parts = sorted(p.name for p in (out / ".parts").iterdir())
    stem = video[:-4]
    assert [p for p in parts if p.startswith(stem + ".")] == [
        f"{stem}.{c:05d}.mp4" for c in range(3)
    ]
    assert not [p for p in parts if ".part" in p]  # the piece in progress was removed
    state = read_state(out / STATE_FILE)
    made = [{"pair": k, "first": k * FACTOR} for k in range(8)]  # each pair's record
    # (the records of the pairs made when the third piece closed, in pair 5)
    assert state["chunks"] == {"0": {"chunk_frames": 7, "done": 3, "frames": 21, "pairs": made[:6]}}

    again, told, made_now = PatternInterp(width), [], []
    result = run_capture(
        capture, out, settings(), interpolator=again, total=lambda *n: told.append(n),
        progress=made_now.append,
    )  # fmt: skip
    assert result.status == "done" and result.frames == n
    # the 21 frames the 3 pieces hold (pairs 0..4 and pair 5's first) are told apart: a bar's ETA
    # counted them as made
    assert told == [(n,), (n, 21)] and sum(made_now) == n - 21
    assert made_now == [1] * (n - 21)  # each frame as it is made (a pair's at once: bursts)
    # Frames 0..20 are in finished pieces: pairs 0..4 (frames 0..19) are not interpolated again;
    # pair 5 (frames 20..23) is, and its frame 20 is passed over.
    assert again.pairs == [5, 6, 7]
    assert video_numbers(out / video) == list(range(n))
    if panoramic:
        assert len(list(frames.iter_video(out / "walkthrough.mp4"))) == n
        assert ffmpeg_projection(out / video) == "equirectangular"
    assert duration(out / video) == pytest.approx(n / 30, abs=0.011)
    pngs = sorted((out / "frames").glob("*.png"))
    assert [decode(frames.read_image(p).image) for p in pngs] == list(range(n))
    assert not (out / ".parts").exists() and not list(out.glob(".*.part*"))
    (segment,) = json.loads((out / "manifest.json").read_text())["segments"]
    assert [r["t"] for r in segment["frames"]] == [0.0, 0.25, 0.5, 0.75] * 8 + [1.0]
    assert segment["pairs"] == made  # the pairs the first run made, recorded once each
    assert not read_state(out / STATE_FILE).get("chunks")


def test_a_resumed_run_decodes_only_the_photos_of_the_pairs_it_makes(tmp_path, monkeypatch):
    # A long walk resumed near its end decoded every photo before its unfinished chunk again
    # (500 5.7K JPEGs: minutes) only to pass over the pairs the finished pieces hold.
    import viewsynth.capture.load as load

    capture = make_capture(tmp_path / "cap", n=9, width=48)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_capture(capture, out, settings(), interpolator=PatternInterp(48, die_at=6))
    read, decoded = load.read_image, []
    monkeypatch.setattr(load, "read_image", lambda p, **kw: decoded.append(p.name) or read(p, **kw))
    again = PatternInterp(48)
    assert run_capture(capture, out, settings(), interpolator=again).status == "done"
    assert again.pairs == [5, 6, 7]
    assert decoded == [f"f{k:03d}.png" for k in range(5, 9)]
    assert video_numbers(out / "walkthrough.mp4") == list(range(8 * FACTOR + 1))


_KILLED_RUN = """
import sys
sys.path.insert(0, {here!r})
from pathlib import Path
from test_resume import PatternInterp, settings
from viewsynth.walkthrough import run_capture
run_capture(Path({capture!r}), Path({out!r}), settings(), interpolator=PatternInterp(die_at=6, how="kill"))
"""


def test_a_sigkilled_run_resumes_with_every_frame_once(tmp_path):
    capture = make_capture(tmp_path / "cap", n=9, width=64)
    out = tmp_path / "out"
    code = _KILLED_RUN.format(here=str(HERE), capture=str(capture), out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (out / "walkthrough_360.mp4").exists()
    again = PatternInterp()
    assert run_capture(capture, out, settings(), interpolator=again).status == "done"
    assert again.pairs == [5, 6, 7]
    assert video_numbers(out / "walkthrough_360.mp4") == list(range(8 * FACTOR + 1))
    assert not (out / ".parts").exists()


def test_other_settings_outputs_go_once_the_new_run_has_its_own(tmp_path):
    capture = make_capture(tmp_path / "cap", n=3, width=64)
    out = tmp_path / "out"
    out.mkdir()
    # A run under other settings made three segments, finished one and was killed in the next.
    old = {"walkthrough-seg00.mp4": b"v", "walkthrough_360-seg00.mp4": b"v",
           "walkthrough-seg00.gpx": b"g", ".parts/walkthrough-seg01.00000.mp4": b"p"}  # fmt: skip
    for name, data in old.items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes(data)
    files = {"flat": "walkthrough-seg00.mp4", "360": "walkthrough_360-seg00.mp4",
             "gpx": "walkthrough-seg00.gpx"}  # fmt: skip
    state = {"fingerprint": "other", "segments": {"0": {"files": files, "frames": []}},
             "chunks": {"1": {"chunk_frames": 7, "done": 1}}}  # fmt: skip
    (out / STATE_FILE).write_text(json.dumps(state))
    # cut short, the new run keeps them (they are all there is); done, it has its own
    with pytest.raises(RuntimeError):
        run_capture(capture, out, settings(), interpolator=PatternInterp(die_at=1))
    assert all((out / name).exists() for name in files.values())
    assert run_capture(capture, out, settings(), interpolator=PatternInterp()).status == "done"
    assert sorted(p.name for p in out.iterdir()) == [
        STATE_FILE, "frames", "manifest.json", "walkthrough.mp4", "walkthrough_360.mp4"
    ]  # fmt: skip


def test_a_run_without_frames_takes_the_earlier_runs_frames_and_their_folder(tmp_path):
    capture = make_capture(tmp_path / "cap", n=3, width=64)
    out, no_frames = tmp_path / "out", dataclasses.replace(settings(), frames=False)
    assert run_capture(capture, out, settings(), interpolator=PatternInterp()).status == "done"
    assert len(list((out / "frames").glob("*.png"))) == 9
    assert run_capture(capture, out, no_frames, interpolator=PatternInterp()).status == "done"
    assert not (out / "frames").exists()  # (it was left behind, empty)
    # a folder holding something of the user's stays, with it
    assert run_capture(capture, out, settings(), interpolator=PatternInterp()).status == "done"
    (out / "frames" / "notes.txt").write_text("mine")
    assert run_capture(capture, out, no_frames, interpolator=PatternInterp()).status == "done"
    assert [p.name for p in (out / "frames").iterdir()] == ["notes.txt"]


def test_another_chunk_size_keeps_the_fingerprint_but_not_the_chunks(tmp_path):
    capture = make_capture(tmp_path / "cap", n=9, width=64)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        run_capture(capture, out, settings(7), interpolator=PatternInterp(die_at=6))
    from viewsynth.capture import load_capture

    cap = load_capture(capture, KEEP_ALL)
    record = PatternInterp().record()
    key = fingerprints(cap, settings(7), record)[0]
    assert fingerprints(cap, settings(5), record)[0] == key
    ledger = Ledger(out, key)
    assert ledger.done_chunks(0, 7) == 3 and ledger.done_chunks(0, 5) == 0
    # A re-run with another chunk size starts the segment again, and is still right.
    again = PatternInterp()
    assert run_capture(capture, out, settings(5), interpolator=again).status == "done"
    assert again.pairs == list(range(8))
    assert video_numbers(out / "walkthrough_360.mp4") == list(range(8 * FACTOR + 1))


def test_a_chunk_size_below_one_is_a_usage_error(tmp_path, capsys):
    from viewsynth.pipelines.cli import main as cli

    capture = make_capture(tmp_path / "cap", n=2, width=64)
    out = tmp_path / "out"
    assert cli(["interpolate", str(capture), "-o", str(out), "--set", "chunk_frames=0", "-q"]) == 2
    assert "chunk_frames must be at least 1" in capsys.readouterr().err
    assert not (out / "walkthrough_360.mp4").exists()


def test_a_resumed_capture_with_a_finished_segment_keeps_its_name_in_the_summary(tmp_path):
    from viewsynth.pipelines.cli import main as cli

    capture = make_capture(tmp_path / "my-walk", n=3, width=64)
    out = tmp_path / "out"
    args = ["interpolate", str(capture), "-o", str(out), "--method", "linear", "-q"]
    args += ["--set", "capture.duplicate_images=false"]
    assert cli([*args, "--factor", str(FACTOR)]) == 0
    # Killed after its segment was recorded as finished but before the manifest was written:
    # the re-run keeps the segment and writes the manifest.
    (out / "manifest.json").unlink()
    assert cli([*args, "--factor", str(FACTOR)]) == 0
    (row,) = json.loads((out / "summary.json").read_text())["captures"]
    assert (row["name"], row["status"]) == ("my-walk", "done")
    assert (out / "manifest.json").exists()


def test_the_plan_keeps_the_pieces_every_video_has_and_holds_their_frames(tmp_path):
    from viewsynth.capture.schedule import PairSchedule
    from viewsynth.walkthrough.resume import plan_segments

    # Two segments: 3 pairs of 4 frames + the last image (13 frames), then 1 pair (5 frames).
    schedules = [
        [PairSchedule(k, (0.0, 0.25, 0.5, 0.75) + ((1.0,) if k == 2 else ()), None) for k in range(3)],
        [PairSchedule(0, (0.0, 0.25, 0.5, 0.75, 1.0), None)],
    ]  # fmt: skip
    ledger = Ledger(tmp_path, "key")
    ledger.finish_chunks(0, 3, 3)  # the ledger lists 3 pieces of 3 frames
    for name, pieces in (("walkthrough_360-seg00.mp4", 3), ("walkthrough-seg00.mp4", 2)):
        for c in range(pieces):
            piece_path(tmp_path, name, c).parent.mkdir(exist_ok=True)
            piece_path(tmp_path, name, c).write_bytes(b"")
    first, second = plan_segments(ledger, schedules, panoramic=True, chunk_frames=3)
    # The flat video has only 2 pieces: 2 are kept, holding frames 0..5.
    assert (first.kept_chunks, first.first_index, first.n_frames) == (2, 0, 13)
    assert [(s.k, s.times, s.held, s.todo) for s in first.pairs] == [
        (0, (0.0, 0.25, 0.5, 0.75), 4, False),
        (1, (0.0, 0.25, 0.5, 0.75), 2, True),
        (2, (0.0, 0.25, 0.5, 0.75, 1.0), 0, True),
    ]
    assert first.finished is None
    assert (second.first_index, second.kept_chunks, second.pairs[0].held) == (13, 0, 0)
    assert second.names == {"flat": "walkthrough-seg01.mp4", "360": "walkthrough_360-seg01.mp4"}
    # A finished segment whose files exist is planned as finished; another chunk size keeps none.
    for name in second.names.values():
        (tmp_path / name).write_bytes(b"")
    ledger.finish_segment(1, {"files": second.names, "frames": []})
    first, second = plan_segments(ledger, schedules, panoramic=True, chunk_frames=4)
    assert first.kept_chunks == 0 and [s.held for s in first.pairs] == [0, 0, 0]
    assert second.finished == {"files": second.names, "frames": []}


class Stop(Exception):
    """A run stopped on purpose (a crash, a kill) before a given frame."""


def stopping_before(frame: int, stop: type[BaseException] = Stop):
    """``SegmentWriter.write`` that raises ``stop`` (``Stop``; ``KeyboardInterrupt``: Ctrl-C)
    instead of writing frame ``frame`` of a segment."""
    from viewsynth.export.segment import SegmentWriter

    write = SegmentWriter.write

    def stopping(self, image):
        if self.position == frame:
            raise stop(frame)
        write(self, image)

    return stopping


@pytest.mark.parametrize("chunk", [3, 4])
def test_a_run_stopped_at_any_frame_resumes_to_the_clean_run_frame_for_frame(
    tmp_path, monkeypatch, chunk
):
    from viewsynth.export.segment import SegmentWriter

    # 4 shots: 3 pairs of FACTOR frames and the last image, 13 frames. With 3 or 4 frames a
    # piece the last piece holds one frame (no reordered frames, where the others have two):
    # the join must still give every frame once, one frame long (a decoder at the video's rate
    # saw the last but one three times), in a clean run and in every resumed one.
    capture = make_capture(tmp_path / "cap", n=4, width=64)
    n = 3 * FACTOR + 1
    videos = ("walkthrough_360.mp4", "walkthrough.mp4")
    clean = tmp_path / "clean"
    assert run_capture(capture, clean, settings(chunk), interpolator=PatternInterp()).frames == n
    want = {video: [img for _, img in frames.iter_video(clean / video)] for video in videos}
    assert [decode(img) for img in want["walkthrough_360.mp4"]] == list(range(n))
    assert len(want["walkthrough.mp4"]) == n
    # Stopped before every frame: at each chunk boundary, mid-pair, mid-chunk, before the last
    # image; the pieces closed by then (recorded or not) are kept or redone, and the rest made.
    for stop in range(1, n):
        out = tmp_path / f"stop{stop:02d}"
        with monkeypatch.context() as patch:
            patch.setattr(SegmentWriter, "write", stopping_before(stop))
            with pytest.raises(Stop):
                run_capture(capture, out, settings(chunk), interpolator=PatternInterp())
        again = PatternInterp()
        assert run_capture(capture, out, settings(chunk), interpolator=again).status == "done"
        # The ledger lists the pieces closed by the last whole pair; the pairs they hold are kept.
        held = min(stop // FACTOR, 3) * FACTOR // chunk * chunk
        assert again.pairs == list(range(held // FACTOR, 3)), stop
        for video in videos:
            got = [img for _, img in frames.iter_video(out / video)]
            assert len(got) == n, (stop, video)
            assert all(np.array_equal(a, b) for a, b in zip(got, want[video], strict=True))
        pngs = sorted((out / "frames").glob("*.png"))
        assert [decode(frames.read_image(p).image) for p in pngs] == list(range(n))
        assert not (out / ".parts").exists()


def test_a_spacing_video_stopped_anywhere_resumes_to_the_clean_run(tmp_path, monkeypatch):
    # --spacing on a video: pairs without a frame and pairs that start at t > 0 (resume.PairStep
    # holds all of a pair's times); stopped before any frame, the re-run gives the clean frames.
    from viewsynth.export.segment import SegmentWriter

    video = Path(__file__).parent / "data" / "karma_small.mp4"
    chosen = InterpolateSettings(method="linear", spacing=4.0, chunk_frames=5, frames=True)
    clean = tmp_path / "clean"
    n = run_capture(video, clean, chosen).frames
    rows = json.loads((clean / "manifest.json").read_text())["segments"][0]["frames"]
    assert n == len(rows) > 15 and any(0.0 < row["t"] < 1.0 for row in rows)
    want = [frames.read_image(p).image for p in sorted((clean / "frames").glob("*.png"))]
    for stop in (1, 6, n // 2, n - 1):
        out = tmp_path / f"stop{stop:02d}"
        with monkeypatch.context() as patch:
            patch.setattr(SegmentWriter, "write", stopping_before(stop))
            with pytest.raises(Stop):
                run_capture(video, out, chosen)
        assert run_capture(video, out, chosen).status == "done"
        got = [frames.read_image(p).image for p in sorted((out / "frames").glob("*.png"))]
        assert len(got) == n and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
        assert json.loads((out / "manifest.json").read_text())["segments"][0]["frames"] == rows


def test_shots_without_the_newer_fields_keep_the_fingerprint_of_older_ledgers(
    tmp_path, monkeypatch
):
    # ``along`` (--spacing on a video) and ``orientation`` (tags that turn a panorama) came in
    # one session: a capture that has neither must hash as before them, so a run stopped by an
    # older version resumes instead of starting again.
    import dataclasses

    from viewsynth.capture import load_capture
    from viewsynth.walkthrough import resume

    cap = load_capture(make_capture(tmp_path / "cap", n=3, width=64), KEEP_ALL)
    record = PatternInterp().record()
    key = fingerprints(cap, settings(), record)[0]

    asdict = dataclasses.asdict

    def older(shot):  # a Shot as it was before ``orientation`` (``along``: left out already)
        return {k: v for k, v in asdict(shot).items() if k != "orientation"}

    monkeypatch.setattr(resume.dataclasses, "asdict", older)
    assert fingerprints(cap, settings(), record)[0] == key
    # ``capture.duplicate_images`` came later: at its default it hashes as before it
    default = dataclasses.replace(settings(), capture=CaptureOptions())
    key = fingerprints(cap, default, record)[0]
    assert fingerprints(cap, settings(), record)[0] != key  # (off: another setting)
    monkeypatch.setattr(resume.config_lib, "to_dict", _before("duplicate_images"))
    assert fingerprints(cap, default, record)[0] == key


def _before(key: str):
    """``config.to_dict`` as it was before the capture setting ``key`` existed."""
    to_dict = config_lib.to_dict

    def before(obj):
        out = to_dict(obj)
        if isinstance(out, dict) and isinstance(out.get("capture"), dict):
            out["capture"].pop(key)
        return out

    return before


def test_the_heading_smoothing_in_metres_keeps_the_fingerprint_of_older_ledgers(
    tmp_path, monkeypatch
):
    # capture.heading_smoothing (2 shots) became heading_smoothing_metres (5 m): settings that
    # are otherwise the same hash as the old default did, so a run stopped before resumes.
    import dataclasses

    from viewsynth import config as config_lib
    from viewsynth.capture import CaptureOptions, load_capture
    from viewsynth.walkthrough import resume

    cap = load_capture(make_capture(tmp_path / "cap", n=3, width=64))
    record = PatternInterp().record()
    key = fingerprints(cap, settings(), record)[0]
    new_to_dict = config_lib.to_dict

    def older(obj):  # the settings as they were written before
        out = new_to_dict(obj)
        if not isinstance(obj, InterpolateSettings):
            return out
        del out["capture"]["heading_smoothing_metres"]
        return {**out, "capture": {**out["capture"], "heading_smoothing": 2.0}}

    monkeypatch.setattr(resume.config_lib, "to_dict", older)
    assert fingerprints(cap, settings(), record)[0] == key
    other = dataclasses.replace(settings(), capture=CaptureOptions(heading_smoothing_metres=8.0))
    monkeypatch.setattr(resume.config_lib, "to_dict", new_to_dict)
    assert fingerprints(cap, other, record)[0] != key


def test_a_setting_newer_than_a_run_keeps_its_fingerprint(tmp_path, monkeypatch):
    # photos_weights (session 33) left unset must not make every earlier output folder redo its
    # work: the settings are hashed as they were before the field existed.
    from viewsynth import config as config_lib
    from viewsynth.capture import load_capture
    from viewsynth.walkthrough import resume

    capture = load_capture(make_capture(tmp_path / "cap", 3, 64))
    now = fingerprints(capture, InterpolateSettings(), {"method": "linear"})[0]
    to_dict = config_lib.to_dict

    def before_the_field(settings):
        out = to_dict(settings)
        if isinstance(settings, InterpolateSettings):
            out.pop("photos_weights", None)
        return out

    monkeypatch.setattr(resume.config_lib, "to_dict", before_the_field)
    assert fingerprints(capture, InterpolateSettings(), {"method": "linear"})[0] == now
    monkeypatch.undo()
    given = InterpolateSettings(photos_weights="mine.msgpack")
    assert fingerprints(capture, given, {"method": "linear"})[0] != now


def test_capture_hfov_changes_the_fingerprint_only_where_it_changes_the_shots(
    tmp_path, monkeypatch
):
    # capture.hfov (session 37) is hashed through the shots it gives a field of view to: a run
    # from before it resumes, and so does a panorama's run whatever it is set to (it was
    # redone for a setting that changes none of its frames, and not said to be unused).
    from viewsynth.capture import load_capture
    from viewsynth.walkthrough import resume

    def run(projection, hfov=0.0):
        options = CaptureOptions(duplicate_images=False, projection=projection, hfov=hfov)
        capture = load_capture(source, options)
        given = InterpolateSettings(capture=options)
        return capture, fingerprints(capture, given, {"method": "linear"})[0]

    source = make_capture(tmp_path / "frames", 3, 64)
    plain, key = run("equirect")
    given, same = run("equirect", 120.0)
    assert same == key and not any("hfov" in w for w in plain.warnings)
    assert any("capture.hfov applies to ordinary photos and videos" in w for w in given.warnings)
    monkeypatch.setattr(resume.config_lib, "to_dict", _before("hfov"))
    assert run("equirect")[1] == key
    monkeypatch.undo()
    # the same frames as ordinary photos without a focal length: the given one changes them
    assert run("perspective", 120.0)[1] != run("perspective")[1]


def test_a_resumed_run_says_what_it_made_and_what_it_kept(tmp_path, monkeypatch, capsys):
    # After a Ctrl-C, the re-run's last line and summary counted the earlier run's frames as its
    # own ("33 frames in 0.4 s"): a rate from them was wrong.
    from viewsynth.export.segment import SegmentWriter
    from viewsynth.pipelines.cli import main as cli

    capture = make_capture(tmp_path / "cap", n=9, width=64)
    out = tmp_path / "out"
    args = ["interpolate", str(capture), "-o", str(out), "--method", "linear", "-q"]
    args += ["--factor", str(FACTOR), "--set", "chunk_frames=7"]
    args += ["--set", "capture.duplicate_images=false"]  # (pattern frames: light, not place)
    with monkeypatch.context() as patch:  # Ctrl-C before frame 25: 3 pieces (21 frames) closed
        patch.setattr(SegmentWriter, "write", stopping_before(25, KeyboardInterrupt))
        assert cli(args) == 130
    capsys.readouterr()
    assert cli(args) == 0
    # the 3 closed pieces hold pairs 0..4 (20 frames) and pair 5's first frame, which is not made
    # again (a count by whole pairs called it made: 20 kept, 13 made)
    n = 8 * FACTOR + 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(rf"; {n} frames \(21 kept from an earlier run, 12 made in [\d.]+ s\) ->", last)
    (row,) = json.loads((out / "summary.json").read_text())["captures"]
    assert (row["status"], row["frames"], row["made"], row["kept"]) == ("done", n, 12, 21)
    assert cli(args) == 0  # done already: all kept, none made
    (row,) = json.loads((out / "summary.json").read_text())["captures"]
    assert (row["status"], row["frames"], row["made"], row["kept"]) == ("skipped", n, 0, n)
    assert re.search(r"; 0 frames in [\d.]+ s ->", capsys.readouterr().err)


def test_an_interrupted_captures_row_counts_the_frames_its_closed_pieces_keep(
    tmp_path, monkeypatch
):
    # The row of a capture stopped by Ctrl-C said 0 frames though its closed pieces are kept
    # (fusion_forest --factor 30 --set chunk_frames=50, SIGINT after 2 pieces: 100 kept, "0").
    from viewsynth.export import segment
    from viewsynth.pipelines.cli import main as cli
    from viewsynth.walkthrough import CaptureResult, RootProgress

    capture = make_capture(tmp_path / "cap", n=9, width=64)
    out = tmp_path / "out"
    args = ["interpolate", str(capture), "-o", str(out), "--method", "linear", "-q"]
    args += ["--factor", str(FACTOR), "--set", "chunk_frames=7"]
    args += ["--set", "capture.duplicate_images=false"]  # (pattern frames: light, not place)

    def row_after(stop) -> tuple:
        with monkeypatch.context() as patch:
            stop(patch)
            assert cli(args) == 130
        (row,) = json.loads((out / "summary.json").read_text())["captures"]
        return row["status"], row["frames"], row["made"], row["kept"]

    def before(frame: int):
        return lambda patch: patch.setattr(
            segment.SegmentWriter, "write", stopping_before(frame, KeyboardInterrupt)
        )

    def joining(patch):  # (the last, shorter piece is closed: 33 frames, not 5 x 7)
        patch.setattr(segment, "join_pieces", lambda *a, **k: (_ for _ in ()).throw(
            KeyboardInterrupt()))  # fmt: skip

    assert row_after(before(25)) == ("interrupted", 21, 21, 0)  # 3 pieces of 7
    progress = RootProgress([("", capture)], out)  # a Ray worker's own "interrupted" row too
    progress.start(0)  # (21 frames there when it starts: kept, not made)
    progress.finish(0, CaptureResult("cap", "interrupted"))
    ((status, frames_held, kept),) = [(r.status, r.frames, r.kept) for r in progress.results()]
    assert (status, frames_held, kept) == ("interrupted", 21, 21)
    assert row_after(before(30)) == ("interrupted", 28, 7, 21)  # a 4th, made by the re-run
    assert row_after(joining) == ("interrupted", 8 * FACTOR + 1, 5, 28)


def test_a_single_videos_row_is_named_as_when_done_whatever_became_of_it(tmp_path):
    # ``viewsynth interpolate ride.mp4`` stopped by Ctrl-C wrote a row "ride.mp4", its re-run's
    # "done" row "ride" (run_capture's name): one capture, two names in summary.json.
    from viewsynth.walkthrough import CaptureResult, RootProgress

    video = tmp_path / "ride.mp4"
    video.write_bytes(b"")
    progress = RootProgress([("", video)], tmp_path / "out")
    assert [(r.name, r.status) for r in progress.results()] == [("ride", "not started")]
    progress.start(0)
    assert [(r.name, r.status) for r in progress.results()] == [("ride", "interrupted")]
    # ... and its seconds are those since it began (they were 0: made / seconds, no rate)
    time.sleep(0.05)
    assert 0.05 <= progress.results()[0].seconds < 5.0
    progress.finish(0, CaptureResult("ride", "done"))
    assert [(r.name, r.status) for r in progress.results()] == [("ride", "done")]


def test_the_ledger_is_written_whole_once_a_run_and_appended_to_after(tmp_path, monkeypatch):
    # Rewritten whole at every closed piece, the ledger cost a capture of N frames N^2 work: a
    # 50,000-frame one of 50 segments spent 449 s and 7.6 GB of writes on it.
    from viewsynth.walkthrough import resume

    capture = make_capture(tmp_path / "cap", n=9, width=48)
    out = tmp_path / "out"
    whole = []
    write_text = resume.frames.write_text

    def counted(path, text):
        if path.name == STATE_FILE:
            whole.append(path.name)
        write_text(path, text)

    monkeypatch.setattr(resume.frames, "write_text", counted)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_capture(capture, out, settings(3), interpolator=PatternInterp(48, die_at=6))
    # written whole when the run began; then a line for each of the 6 pairs that closed pieces
    assert whole == [STATE_FILE]
    lines = (out / STATE_FILE).read_text().splitlines()
    assert len(lines) == 1 + 6 and all(json.loads(line) for line in lines)
    assert read_state(out / STATE_FILE)["chunks"]["0"]["done"] == 8
    again = PatternInterp(48)
    assert run_capture(capture, out, settings(3), interpolator=again).status == "done"
    assert again.pairs == [6, 7] and whole == [STATE_FILE] * 2
    assert video_numbers(out / "walkthrough.mp4") == list(range(8 * FACTOR + 1))


@pytest.mark.parametrize("cut", ["half a record", "the earlier form"])
def test_a_ledger_cut_short_or_of_the_earlier_form_resumes_keeping_the_work_before(tmp_path, cut):
    capture = make_capture(tmp_path / "cap", n=9, width=48)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_capture(capture, out, settings(), interpolator=PatternInterp(48, die_at=6))
    ledger = out / STATE_FILE
    if cut == "half a record":  # killed while it appended a record: the pieces before are kept
        with open(ledger, "a") as fh:
            fh.write('{"chunks": 0, "chunk_frames": 7, "done": 4, "pairs": [{"pai')
    else:  # the one JSON object an earlier version wrote, whole at every closed piece
        ledger.write_text(json.dumps(read_state(ledger), indent=2))
    again = PatternInterp(48)
    assert run_capture(capture, out, settings(), interpolator=again).status == "done"
    assert again.pairs == [5, 6, 7]
    assert video_numbers(out / "walkthrough.mp4") == list(range(8 * FACTOR + 1))
    (segment,) = json.loads((out / "manifest.json").read_text())["segments"]
    assert segment["pairs"] == [{"pair": k, "first": k * FACTOR} for k in range(8)]


def test_a_record_the_ledger_cannot_append_is_one_line_naming_it(tmp_path):
    ledger = Ledger(tmp_path, "key")
    ledger.begin()
    (tmp_path / STATE_FILE).unlink()
    (tmp_path / STATE_FILE).mkdir()  # (as a full disk refuses the write)
    with pytest.raises(
        ViewsynthError, match=rf"^{re.escape(str(tmp_path / STATE_FILE))}: could not"
    ):
        ledger.finish_chunks(0, 7, 1)


def test_the_bars_finish_stays_put_while_frames_come_in_bursts(monkeypatch):
    # A pair's frames come at once, after its interpolation, and the encoders wait at each closed
    # piece: tqdm's moving rate swung with them (a real run's predicted finish: 42 to 66 s).
    import io

    from viewsynth.pipelines.interpolate import frame_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())  # (the bar is drawn, as on a terminal)
    n, clock = 8 * 60 + 1, [0.0]
    bar = frame_bar("walk", quiet=False)
    bar._time = lambda: clock[0]
    bar.reset(total=n)
    finishes = []
    for frame in range(n):
        # a pair of 8 frames: 1 s to make, its frames written at once; 2 s at each piece's close
        clock[0] += (1.0 if frame % 8 == 0 else 0.01) + (2.0 if frame % 60 == 59 else 0.0)
        bar.update(1)
        info = bar.format_dict  # (what the bar draws: its ETA is what is left over its rate)
        rate = info["rate"] or (info["n"] - info["initial"]) / info["elapsed"]
        if frame > n // 4:
            finishes.append(clock[0] + (n - bar.n) / rate)
    end = clock[0]  # (tqdm's moving rate: 70.6 to 103.0 s, the average's 75.3 to 83.0 s)
    assert all(abs(finish - end) < 0.1 * end for finish in finishes), (end, finishes)
    bar.close()


@pytest.mark.parametrize("chunk", [7, 60])
def test_a_run_stopped_while_joining_makes_no_frame_again(tmp_path, monkeypatch, chunk):
    # The last, shorter piece was closed only by the join: a run killed there (a video of one
    # piece: all of it) made the piece's frames again (karma.mp4 at --spacing 2: 42 of 42).
    from viewsynth.export import segment

    capture = make_capture(tmp_path / "cap", n=9, width=64)
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(segment, "join_pieces", lambda *a, **k: (_ for _ in ()).throw(Stop()))
        with pytest.raises(Stop):
            run_capture(capture, out, settings(chunk), interpolator=PatternInterp())
    again = PatternInterp()
    result = run_capture(capture, out, settings(chunk), interpolator=again)
    assert (result.status, result.made, result.kept) == ("done", 0, 8 * FACTOR + 1)
    assert again.pairs == []
    for video in ("walkthrough_360.mp4", "walkthrough.mp4"):
        assert len(list(frames.iter_video(out / video))) == 8 * FACTOR + 1
    assert video_numbers(out / "walkthrough_360.mp4") == list(range(8 * FACTOR + 1))
    assert len(list((out / "frames").glob("*.png"))) == 8 * FACTOR + 1
    (segment_record,) = json.loads((out / "manifest.json").read_text())["segments"]
    assert segment_record["pairs"] == [{"pair": k, "first": k * FACTOR} for k in range(8)]
