"""The whole job: capture folder -> videos + manifest, resume, roots of captures, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from stopping import stop_midway

from viewsynth import frames
from viewsynth.errors import ViewsynthError
from viewsynth.export.spherical import ffmpeg_projection
from viewsynth.pipelines.cli import main as cli
from viewsynth.walkthrough import InterpolateSettings, find_captures, run_capture

ROOT = Path(__file__).resolve().parents[1]
PARTIAL = re.compile(r"\.part[-.]")  # a file written aside (frames.part_path), not yet renamed


def _pano(width: int, seed: int) -> np.ndarray:
    """A smooth 2:1 texture whose left and right edges meet, as a panorama's do."""
    rng = np.random.default_rng(seed)
    small = np.tile(rng.random((4, 8, 3)).astype(np.float32), (1, 3, 1))
    return frames.resize(small, 3 * width, width // 2)[:, width : 2 * width]


def make_capture(folder: Path, n: int = 3, width: int = 128, perspective: bool = False) -> Path:
    """``n`` frames of a smooth texture moving right by 2 px a frame, as PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    base = _pano(width, 0)
    for i in range(n):
        img = np.roll(base, 2 * i, axis=1)
        if perspective:
            img = img[:, : width * 3 // 8]
        frames.write_image(folder / f"frame_{i:03d}.png", img)
    return folder


def interpolate(*args) -> int:
    """``viewsynth interpolate ARGS -q`` in this process; its exit code."""
    return cli(["interpolate", *map(str, args), "-q"])


def run_cli(*args: str) -> tuple[int, str]:
    """The real console script in a subprocess: exit code and stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "viewsynth.pipelines.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stderr


def test_panoramic_capture_gives_both_videos_and_manifest(tmp_path):
    capture = make_capture(tmp_path / "cap", n=3)
    out = tmp_path / "out"
    assert interpolate(str(capture), "-o", str(out), "--method", "linear", "--factor", "4") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    (segment,) = manifest["segments"]
    assert segment["files"] == {"flat": "walkthrough.mp4", "360": "walkthrough_360.mp4"}
    rows = segment["frames"]
    # 2 pairs x 4 steps + the last photo as t=1.
    assert [r["t"] for r in rows] == [0, 0.25, 0.5, 0.75] * 2 + [1.0]
    assert rows[0]["src"] == ["frame_000.png", "frame_001.png"]
    assert rows[-1]["src"] == ["frame_001.png", "frame_002.png"]
    assert manifest["settings"]["factor"] == 4 and manifest["projection"] == "equirect"
    n_360 = sum(1 for _ in iio.imiter(out / "walkthrough_360.mp4"))
    n_flat = sum(1 for _ in iio.imiter(out / "walkthrough.mp4"))
    assert n_360 == n_flat == len(rows)
    assert ffmpeg_projection(out / "walkthrough_360.mp4") == "equirectangular"
    assert ffmpeg_projection(out / "walkthrough.mp4") is None
    first = next(iter(iio.imiter(out / "walkthrough.mp4")))
    assert first.shape == (720, 1280, 3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["captures"][0]["status"] == "done"


def test_linear_midframe_is_the_crossfade(tmp_path):
    """The t=0.5 PNG equals the average of its two sources (within rounding)."""
    capture = make_capture(tmp_path / "cap", n=2, width=64)
    out = tmp_path / "out"
    assert (
        interpolate(
            str(capture),
            "-o",
            str(out),
            "--method",
            "linear",
            "--factor",
            "2",
            "--frames",
            "--set",
            "capture.align_heading=false",
        )
        == 0
    )
    pngs = sorted((out / "frames").glob("*.png"))
    assert [p.name for p in pngs] == ["000000.png", "000001.png", "000002.png"]
    a, mid, b = (frames.read_image(p).image for p in pngs)
    np.testing.assert_allclose(mid, (a + b) / 2, atol=1.0 / 255 + 1e-6)


def test_perspective_capture_gives_flat_video_only(tmp_path):
    capture = make_capture(tmp_path / "cap", n=2, width=128, perspective=True)
    out = tmp_path / "out"
    assert interpolate(str(capture), "-o", str(out), "--method", "flow") == 0
    assert (out / "walkthrough.mp4").exists() and not (out / "walkthrough_360.mp4").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["projection"] == "perspective"
    first = next(iter(iio.imiter(out / "walkthrough.mp4")))
    assert first.shape == (64, 48, 3)


def test_a_capture_folder_that_was_its_own_output_folder_lists_no_outputs(tmp_path):
    # -o the capture folder itself: the next run, with other settings, finds its own videos,
    # manifest, summary and frames/ there; they are not the user's files, so not "skipped".
    cap = make_capture(tmp_path / "cap", n=3)
    (cap / "notes.txt").write_text("the user's: still named")
    for factor in ("2", "3"):
        assert (
            interpolate(cap, "-o", cap, "--method", "linear", "--factor", factor, "--frames") == 0
        )
        manifest = json.loads((cap / "manifest.json").read_text())
        assert manifest["settings"]["factor"] == int(factor)
        assert manifest["skipped"] == [{"file": "notes.txt", "reason": "not an image"}]
    assert {p.name for p in cap.iterdir()} >= {"walkthrough_360.mp4", "summary.json", "frames"}


def test_resume_skips_finished_work_and_recomputes_on_new_settings(tmp_path):
    capture = make_capture(tmp_path / "cap", n=2, width=64)
    out = tmp_path / "out"
    settings = InterpolateSettings(method="linear", factor=2)
    first = run_capture(capture, out, settings)
    assert first.status == "done"
    stamp = (out / "walkthrough.mp4").stat().st_mtime_ns
    again = run_capture(capture, out, settings)
    assert again.status == "skipped"
    assert (out / "walkthrough.mp4").stat().st_mtime_ns == stamp
    changed = run_capture(capture, out, InterpolateSettings(method="linear", factor=3))
    assert changed.status == "done"
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["segments"][0]["frames"]) == 4
    # PNG frames follow the settings too: fewer frames leave none of the earlier run's behind
    run_capture(capture, out, InterpolateSettings(method="linear", factor=4, frames=True))
    assert len(list((out / "frames").glob("*.png"))) == 5
    again = run_capture(capture, out, InterpolateSettings(method="linear", factor=2, frames=True))
    assert again.status == "done" and len(list((out / "frames").glob("*.png"))) == 3


def test_resume_goes_by_the_photos_content_not_their_file_times(tmp_path):
    capture = make_capture(tmp_path / "cap", n=3, width=64)
    out = tmp_path / "out"
    settings = InterpolateSettings(method="linear", factor=2)
    assert run_capture(capture, out, settings).status == "done"
    photo = capture / "frame_001.png"
    os.utime(photo, ns=(0, photo.stat().st_mtime_ns + 10**12))  # a card copied again, a touch
    assert run_capture(capture, out, settings).status == "skipped"
    # other pixels: made again
    frames.write_image(photo, np.roll(_pano(64, 0), 7, axis=1))
    assert run_capture(capture, out, settings).status == "done"


def test_a_changed_weights_file_is_not_taken_for_finished_work(tmp_path):
    # Same settings, new weights in the same file (a fine-tune written again, a new release):
    # the frames would differ, so the capture is interpolated again, and the manifest names
    # the weights that made it. (A 2D network: the record is the point, not the sweep.)
    from flax import nnx

    from viewsynth.model import ModelConfig, Network, save_weights

    capture = make_capture(tmp_path / "cap", n=2, width=64)
    out = tmp_path / "out"
    weights = tmp_path / "mine.msgpack"
    save_weights(
        weights, Network(ModelConfig.tiny(geometry=False), rngs=nnx.Rngs(0)), meta={"run": "first"}
    )
    settings = InterpolateSettings(method="rnn", factor=2, weights=str(weights))
    assert run_capture(capture, out, settings).status == "done"
    first = json.loads((out / "manifest.json").read_text())["interpolator"]
    assert (
        first["weights"] == str(weights)
        and first["iters"] == ModelConfig.tiny(geometry=False).iters
    )
    assert first["trained"] == {"run": "first"} and len(first["sha256"]) == 64
    assert run_capture(capture, out, settings).status == "skipped"

    save_weights(
        weights, Network(ModelConfig.tiny(geometry=False), rngs=nnx.Rngs(1)), meta={"run": "second"}
    )
    assert run_capture(capture, out, settings).status == "done"
    second = json.loads((out / "manifest.json").read_text())["interpolator"]
    assert second["trained"] == {"run": "second"} and second["sha256"] != first["sha256"]
    # Another K is another output too, and is recorded as the K that ran.
    assert (
        run_capture(
            capture, out, InterpolateSettings(method="rnn", factor=2, weights=str(weights), iters=3)
        ).status
        == "done"
    )
    assert json.loads((out / "manifest.json").read_text())["interpolator"]["iters"] == 3


def test_a_missing_or_corrupt_weights_file_is_a_one_line_error_naming_it(tmp_path):
    capture = make_capture(tmp_path / "cap", n=2, width=64)
    bad = tmp_path / "bad.msgpack"
    bad.write_bytes(b"not weights")
    for weights, problem in ((tmp_path / "none.msgpack", "weights file not found"),
                             (bad, "not a readable weights file")):  # fmt: skip
        out = tmp_path / f"out_{weights.stem}"
        code, err = run_cli("interpolate", str(capture), "-o", str(out), "--method", "rnn",
                            "--weights", str(weights))  # fmt: skip
        assert code == 2
        (line,) = [ln for ln in err.strip().splitlines() if "error" in ln]
        assert str(weights) in line and problem in line
        assert not (out / "walkthrough.mp4").exists()


def _record_from_file(path: Path, iters: int | None = None) -> dict:
    """The interpolator record as the manifest has always written it, built from the file."""
    import hashlib

    from flax import serialization

    data = path.read_bytes()
    payload = serialization.msgpack_restore(data)
    meta = payload["meta"]
    return {
        "method": "rnn",
        "weights": str(path),
        "sha256": hashlib.sha256(data).hexdigest(),
        "iters": iters or payload["config"]["iters"],
        "trained": {k: meta[k] for k in ("run", "commit", "config", "steps") if k in meta},
    }


class Forwarding:
    """An interpolator wrapped the way the Ray runner times its calls."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, *args, **kwargs):
        return self.inner(*args, **kwargs)


def test_the_interpolator_describes_itself_as_the_manifest_always_recorded(tmp_path):
    # The record (manifest and resume fingerprint) is the interpolator's own, unchanged in content:
    # for rnn the weights file, its hash, the K that runs and the training run it carries.
    from flax import nnx

    from viewsynth.interpolators import make_interpolator
    from viewsynth.model import ModelConfig, Network, save_weights
    from viewsynth.model.weights import DEFAULT_WEIGHTS, FLOW_ONLY_WEIGHTS, PHOTOS_WEIGHTS

    shipped = make_interpolator("rnn").record()
    # the shipped geometry network, and the 2D network that makes its pairs without a pose
    companion = shipped.pop("flow_only")
    # the photos network (session 23): its own file and sweep, the same 2D network beside it
    photos = shipped.pop("photos")
    assert photos.pop("flow_only") == companion and photos.pop("geometry") == shipped["geometry"]
    assert photos == _record_from_file(PHOTOS_WEIGHTS, iters=1)
    # the knobs of its geometry, which shape its frames: the sweep at 256 columns (session 19)
    geometry = shipped.pop("geometry")
    assert geometry["sweep"]["work_width"] == 256
    assert geometry["seed"] == 0 and geometry["sweep"]["max_hypotheses"] == 128
    assert shipped == _record_from_file(DEFAULT_WEIGHTS)
    assert companion == _record_from_file(FLOW_ONLY_WEIGHTS, iters=1)
    assert shipped["weights"].endswith("default.msgpack") and shipped["iters"] == 1
    assert make_interpolator("flow").record() == {"method": "flow"}
    assert make_interpolator("linear").record() == {"method": "linear"}

    capture = make_capture(tmp_path / "cap", n=2, width=64)
    weights = tmp_path / "mine.msgpack"
    # A 2D network: its record is the file's alone (a geometry network adds its sweep and fallback).
    network = Network(ModelConfig.tiny(geometry=False), rngs=nnx.Rngs(0))
    save_weights(weights, network, meta={"run": "r", "steps": 3})
    for method, want in (
        ("rnn", _record_from_file(weights, iters=3)),
        ("flow", {"method": "flow"}),
    ):
        out = tmp_path / method
        settings = InterpolateSettings(method=method, factor=2, weights=str(weights), iters=3)
        assert run_capture(capture, out, settings).status == "done"
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["interpolator"] == want
        # A wrapper that forwards record() (as the Ray runner's timer does) is the same work.
        wrapped = Forwarding(make_interpolator(method, iters=3, weights=str(weights)))
        assert run_capture(capture, out, settings, interpolator=wrapped).status == "skipped"


def test_root_of_captures_isolates_a_broken_one(tmp_path):
    root = tmp_path / "root"
    make_capture(root / "a", n=2, width=64)
    make_capture(root / "b", n=2, width=64)
    broken = root / "c"
    broken.mkdir()
    frames.write_image(broken / "one.png", _pano(64, 1))
    (broken / "two.png").write_bytes(b"")
    out = tmp_path / "out"
    assert interpolate(str(root), "-o", str(out), "--method", "linear") == 1
    summary = json.loads((out / "summary.json").read_text())
    status = {c["name"]: c["status"] for c in summary["captures"]}
    assert status == {"a": "done", "b": "done", "c": "failed"}
    reason = next(c["reason"] for c in summary["captures"] if c["name"] == "c")
    assert "fewer than two usable" in reason or "two usable" in reason
    assert (out / "a" / "walkthrough_360.mp4").exists() and (out / "b" / "manifest.json").exists()
    assert [name for name, _ in find_captures(root)] == ["a", "b", "c"]


def test_a_roots_captures_have_unique_names_and_its_output_folder_is_none(tmp_path):
    root = tmp_path / "city"
    make_capture(root / "ride", n=2, width=64)
    for video in ("ride.mp4", "walk.mp4", "walk.MOV", "lane.mp4"):
        (root / video).write_bytes(b"")
    make_capture(root / "out" / "ride", n=2, width=64)  # what an earlier run wrote here
    names = [name for name, _ in find_captures(root, root / "out")]
    # (each is written to OUT/<name>: a folder and a video, or two videos, must not share one)
    assert names == ["ride", "lane", "ride-mp4", "walk-MOV", "walk-mp4"]


def make_root(root: Path, names: str = "abc") -> Path:
    """A root of tiny two-frame captures, one sub-folder per letter of ``names``."""
    for name in names:
        make_capture(root / name, n=2, width=64)
    return root


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_root_run_says_what_finished_and_leaves_no_partial_files(tmp_path, sig):
    root, out = make_root(tmp_path / "root"), tmp_path / "out"
    code, err, before = stop_midway(root, out, sig, "--method", "linear", "--factor", "4", "-q")
    assert code == 130 and err.strip().endswith("interrupted; finished work is kept"), err
    captures = json.loads((out / "summary.json").read_text())["captures"]
    assert [(c["name"], c["status"]) for c in captures] == [
        ("a", "done"), ("b", "interrupted"), ("c", "not started")
    ]  # fmt: skip
    # b was cut short with ffmpeg's partial files and its lock there: they go with it (Ctrl-C
    # unwinds the capture), as does the lock of the root's run
    assert [name for name in before if PARTIAL.search(name)] and "b/.viewsynth.lock" in before
    left = [str(p.relative_to(out)) for p in out.rglob("*")]
    assert not [name for name in left if PARTIAL.search(name) or name.endswith(".viewsynth.lock")]


def test_a_roots_entries_that_are_no_capture_are_said_and_in_the_summary(tmp_path, caplog, capsys):
    root = make_root(tmp_path / "root", "a")
    (root / "notes.txt").write_text("x")
    (root / "track.gpx").write_text("x")
    (root / "old").symlink_to(tmp_path / "gone")
    (root / ".DS_Store").write_text("x")  # hidden: left alone, as before
    out = root / "out"  # inside the root: the output folder is no stray either
    assert interpolate(str(root), "-o", str(out), "--method", "linear") == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"{root}: skipped notes.txt, track.gpx: not a capture: neither a folder of images nor a "
        "video file",
        f"{root}: skipped old: not a capture: a broken symbolic link (to {tmp_path / 'gone'})",
    ]
    rows = json.loads((out / "summary.json").read_text())["captures"]
    assert [(c["name"], c["status"], c["reason"]) for c in rows] == [
        ("a", "done", ""),
        ("notes.txt", "skipped", "not a capture: neither a folder of images nor a video file"),
        ("old", "skipped", f"not a capture: a broken symbolic link (to {tmp_path / 'gone'})"),
        ("track.gpx", "skipped", "not a capture: neither a folder of images nor a video file"),
    ]
    assert "1 capture done, 0 skipped (already done), 0 failed, 3 not captures" in (
        capsys.readouterr().err
    )


def test_one_photo_beside_capture_folders_is_a_stray_not_the_capture(tmp_path):
    root = make_root(tmp_path / "city", "ab")
    frames.write_image(root / "cover.jpg", _pano(64, 0))  # a title photo the user kept there
    out = tmp_path / "out"
    assert interpolate(str(root), "-o", str(out), "--method", "linear") == 0
    rows = json.loads((out / "summary.json").read_text())["captures"]
    assert [(c["name"], c["status"], c["reason"]) for c in rows] == [
        ("a", "done", ""),
        ("b", "done", ""),
        ("cover.jpg", "skipped", "not a capture: one photo beside captures"),
    ]
    # beside a video too; and one photo given alone is no capture, said so
    (root / "a").rename(tmp_path / "a")
    (root / "ride.mp4").write_bytes((tmp_path / "out" / "a" / "walkthrough.mp4").read_bytes())
    assert [name for name, _ in find_captures(root)] == ["b", "ride"]
    with pytest.raises(ViewsynthError, match="cover.jpg: a single image is not a capture; give"):
        find_captures(root / "cover.jpg")
    # two photos are a capture of their own, as before (its sub-folders are skipped, said)
    frames.write_image(root / "cover2.jpg", _pano(64, 1))
    assert find_captures(root) == [("", root)]


def test_a_video_named_as_a_folder_beside_it_has_its_own_row(tmp_path):
    root = make_root(tmp_path / "city", "ab")
    assert interpolate(str(root / "a"), "-o", str(tmp_path / "a-out"), "--method", "linear") == 0
    (root / "a").rename(root / "ride")
    (root / "ride.mp4").write_bytes((tmp_path / "a-out" / "walkthrough.mp4").read_bytes())
    out = tmp_path / "out"
    keep = ("--set", "capture.duplicate_images=false")  # (the video's frames show one view)
    assert interpolate(str(root), "-o", str(out), "--method", "linear", "-q", *keep) == 0
    rows = json.loads((out / "summary.json").read_text())["captures"]
    # both were named "ride", told apart only by their outputs
    assert [(c["name"], c["outputs"][0].split("/")[0]) for c in rows] == [
        ("b", "b"), ("ride", "ride"), ("ride-mp4", "ride-mp4")
    ]  # fmt: skip


def test_a_run_already_done_says_its_warnings_again(tmp_path, caplog):
    capture = make_capture(tmp_path / "cap", n=3, width=64)
    (capture / "frame_003.png").write_bytes(b"")  # one bad file: a warning each time
    out = tmp_path / "out"

    def said() -> list[str]:
        caplog.clear()
        assert interpolate(capture, "-o", out, "--method", "linear") == 0
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]

    first = said()
    assert any("frame_003.png" in w for w in first)
    assert said() == first  # skipped as already done, and it says why it warned


def test_summary_paths_are_relative_to_its_own_folder(tmp_path, monkeypatch):
    root = make_root(tmp_path / "root", "ab")
    monkeypatch.chdir(tmp_path)  # (a relative -o: the paths once were relative to here)
    for capture, out, first in ((root, "runs/city", "a/"), (root / "b", "runs/b", "")):
        assert interpolate(str(capture), "-o", out, "--method", "linear") == 0
        rows = json.loads((tmp_path / out / "summary.json").read_text())["captures"]
        outputs = rows[0]["outputs"]
        assert outputs == [f"{first}walkthrough.mp4", f"{first}walkthrough_360.mp4",
                           f"{first}manifest.json"]  # fmt: skip
        assert all((tmp_path / out / path).is_file() for path in outputs)


def test_a_stopped_single_capture_says_so_in_its_summary(tmp_path, monkeypatch):
    import viewsynth.pipelines.interpolate as job

    def stopped(*args, **kw):
        raise KeyboardInterrupt  # Ctrl-C part way through the capture

    monkeypatch.setattr(job, "run_capture", stopped)
    capture, out = make_capture(tmp_path / "cap", n=2, width=64), tmp_path / "out"
    assert interpolate(str(capture), "-o", str(out), "--method", "linear") == 130
    captures = json.loads((out / "summary.json").read_text())["captures"]
    assert [c["status"] for c in captures] == ["interrupted"]


def test_one_captures_unexpected_error_fails_it_alone(tmp_path, monkeypatch):
    import viewsynth.pipelines.interpolate as job

    root = tmp_path / "root"
    for name in ("a", "b", "c"):
        make_capture(root / name, n=2, width=64)
    real = job.run_capture

    def flaky(path, *args, **kw):
        if path.name == "b":
            raise PermissionError(13, "Permission denied")  # a bug's or the system's, not input's
        return real(path, *args, **kw)

    monkeypatch.setattr(job, "run_capture", flaky)
    out = tmp_path / "out"
    assert interpolate(str(root), "-o", str(out), "--method", "linear") == 1
    captures = json.loads((out / "summary.json").read_text())["captures"]
    assert [(c["name"], c["status"]) for c in captures] == [
        ("a", "done"), ("b", "failed"), ("c", "done")
    ]  # fmt: skip
    assert captures[1]["reason"] == "internal error: PermissionError: [Errno 13] Permission denied"


@pytest.mark.parametrize(
    "make, args, needle",
    [
        (lambda d: d / "missing", [], "no such file or folder"),
        (lambda d: (d / "empty").mkdir() or d / "empty", [], "empty folder"),
        (
            lambda d: (d / "r").mkdir() or (d / "r" / "notes.txt").write_text("x") and d / "r",
            [],
            "r: no images, videos or capture sub-folders (only notes.txt)",
        ),
        (  # a GoPro MAX's card copied as it is: say how to stitch it
            lambda d: (d / "r").mkdir() or (d / "r" / "GS010001.360").write_bytes(b"x") and d / "r",
            [],
            "(only GS010001.360: a GoPro MAX video, not yet stitched: export it as an "
            "equirectangular MP4 with GoPro Player or Quik first)",
        ),
        (
            lambda d: (d / "VID_001.insv").write_bytes(b"x") and d / "VID_001.insv",
            [],
            "VID_001.insv: an Insta360 video, not yet stitched: export it as an equirectangular",
        ),
        (lambda d: make_capture(d / "cap", 2, 64), ["--factor", "0"], "factor must be at least 1"),
        (
            lambda d: make_capture(d / "cap", 2, 64),
            ["--set", "nonsense=1"],
            "unknown key 'nonsense'",
        ),
        (lambda d: make_capture(d / "cap", 2, 64), ["--set", "view.hfov=200"], "view.hfov"),
        (lambda d: make_capture(d / "cap", 2, 64), ["--quality", "99"], "quality"),
        (lambda d: make_capture(d / "cap", 2, 64), ["--factor", "abc"], "invalid int value"),
        (
            lambda d: make_capture(d / "cap", 2, 64),
            ["--method", "rnn", "--weights", "/nonexistent.msgpack"],
            "/nonexistent.msgpack",
        ),
        (
            lambda d: make_capture(d / "cap", 2, 64),
            ["--config", "/nonexistent.yaml"],
            "config file not found",
        ),
        (  # an old config's smoothing in shots is not read as metres
            lambda d: make_capture(d / "cap", 2, 64),
            ["--set", "capture.heading_smoothing=2"],
            "config.capture.heading_smoothing: was a number of shots; it is now "
            "heading_smoothing_metres, metres along the GPS track",
        ),
    ],
)
def test_fatal_input_is_one_line_exit_2_and_writes_nothing(tmp_path, make, args, needle):
    capture = make(tmp_path)
    out = tmp_path / "out"
    code, err = run_cli("interpolate", str(capture), "-o", str(out), "--method", "linear", *args)
    assert code == 2, err
    lines = err.strip().splitlines()  # (argparse's mistakes too: no usage block above them)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0]
    assert not out.exists()  # (a folder the run made for nothing goes again)


def test_fewer_than_two_usable_frames_names_the_capture(tmp_path):
    cap = tmp_path / "cap"
    cap.mkdir()
    frames.write_image(cap / "a.png", _pano(64, 0))
    (cap / "b.jpg").write_text("not a jpeg")
    code, err = run_cli("interpolate", str(cap), "-o", str(tmp_path / "out"))
    assert code == 2 and str(cap) in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder(tmp_path):
    cap = make_capture(tmp_path / "cap", 2, 64)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    code, err = run_cli("interpolate", str(cap), "-o", str(locked / "out"))
    assert code == 2 and "not writable" in err


def test_an_existing_output_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    from viewsynth.walkthrough import run as walkthrough_run

    cap = make_capture(tmp_path / "cap", 2, 64)
    out = tmp_path / "out"
    out.mkdir()
    # (root writes anywhere: the write probe's own name taken by a folder fails as a lock would)
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    (out / ".viewsynth-write-test-4242").mkdir()

    def unread(*_args, **_kw):
        raise AssertionError("the capture was read before the folder was checked")

    monkeypatch.setattr(walkthrough_run, "load_capture", unread)
    with pytest.raises(ViewsynthError, match=r"out: output folder is not writable"):
        run_capture(cap, out, InterpolateSettings(method="linear", factor=2))
    assert not (out / ".viewsynth.lock").exists()  # (nor was the folder's lock taken: its
    # OSError there had been a traceback that stopped a whole root)


def test_output_path_that_is_a_file_is_refused(tmp_path):
    """An output 'folder' that is an existing file cannot be written into (works as root too)."""
    cap = make_capture(tmp_path / "cap", 2, 64)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run_cli("interpolate", str(cap), "-o", str(blocker / "out"), "--method", "linear")
    assert code == 2 and f"{blocker / 'out'}: {blocker} is a file, not a folder" in err, err
    # -o the file itself: was "output folder is not writable (File exists)"
    code, err = run_cli("interpolate", str(cap), "-o", str(blocker), "--method", "linear")
    assert code == 2 and f"{blocker}: a file, not a folder: give -o a folder" in err, err
    assert blocker.read_text() == "x"


def test_video_file_is_a_capture(tmp_path):
    from viewsynth.export.video import VideoWriter

    video = tmp_path / "ride.mp4"
    base = _pano(128, 3)[:, :64]
    with VideoWriter(video, 10, quality=10) as writer:
        for i in range(10):
            writer.write(np.roll(base, i, axis=1))
    out = tmp_path / "out"
    assert (
        interpolate(
            str(video),
            "-o",
            str(out),
            "--method",
            "linear",
            "--factor",
            "2",
            "--set",
            "capture.every_frames=3",
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    rows = manifest["segments"][0]["frames"]
    # Frames 0, 3, 6, 9 are kept: 3 pairs x 2 steps + the last.
    assert len(rows) == 7 and manifest["time_source"] == "video"
    assert sum(1 for _ in iio.imiter(out / "walkthrough.mp4")) == 7


def test_the_shipped_settings_file_loads_and_names_every_setting_at_its_default():
    """``configs/interpolate.yaml`` is the manual's list of settings: it must load (a key the code
    dropped makes ``--config`` fail), hold the code's defaults, and name every setting."""
    import dataclasses

    import yaml

    from viewsynth import config as config_lib
    from viewsynth.walkthrough.settings import settings_from

    path = ROOT / "configs" / "interpolate.yaml"
    assert settings_from(str(path), []) == InterpolateSettings()

    def keys(data, prefix=""):
        return {
            k for name, value in data.items()
            for k in ([prefix + name] if not isinstance(value, dict)
                      else keys(value, f"{prefix}{name}."))
        }  # fmt: skip

    everything = keys(config_lib.to_dict(InterpolateSettings()))
    assert keys(yaml.safe_load(path.read_text())) == everything
    assert {f.name for f in dataclasses.fields(InterpolateSettings)} <= {
        k.split(".")[0] for k in everything
    }


def test_a_pairs_times_are_asked_a_memory_budget_at_a_time(tmp_path, monkeypatch):
    """A pair's in-between frames are asked of the interpolator ``CALL_BYTES`` at a time, written
    as they come (a --factor in the thousands would otherwise hold them all): the same frames."""
    from viewsynth.interpolators import Linear
    from viewsynth.walkthrough import run as run_module

    capture = make_capture(tmp_path / "cap", n=3, width=64)
    settings = InterpolateSettings(method="linear", factor=7, frames=True)
    whole = run_capture(capture, tmp_path / "whole", settings)
    asked = []
    call = Linear.__call__

    def counted(self, img0, img1, times, **kw):
        asked.append(len(times))
        return call(self, img0, img1, times, **kw)

    monkeypatch.setattr(Linear, "__call__", counted)
    monkeypatch.setattr(run_module, "CALL_BYTES", 3 * 64 * 32 * 3 * 4)  # three 64x32 frames
    split = run_capture(capture, tmp_path / "split", settings)
    assert whole.status == split.status == "done" and split.frames == whole.frames == 15
    assert asked == [3, 3] * 2  # each pair's 6 in-between times, three at a time
    for a, b in zip(sorted((tmp_path / "whole" / "frames").glob("*.png")),
                    sorted((tmp_path / "split" / "frames").glob("*.png")), strict=True):  # fmt: skip
        assert np.array_equal(frames.read_image(a).image, frames.read_image(b).image)


class _Recorded(Forwarding):
    """A cross-fade that describes itself as ``record`` (a network's, without running one)."""

    def __init__(self, record: dict):
        from viewsynth.interpolators import Linear

        super().__init__(Linear())
        self._record = record

    def record(self):
        return self._record


def test_a_geometry_network_given_for_photos_is_said_to_make_none_of_their_frames(tmp_path):
    # A researcher's geometry network (fine-tuned on panoramas) hands ordinary photos to the
    # shipped photos network: a job on photos with it made the shipped networks' frames, silently.
    from viewsynth.model.weights import DEFAULT_WEIGHTS, PHOTOS_WEIGHTS

    photos = make_capture(tmp_path / "photos", n=2, width=128, perspective=True)
    panoramas = make_capture(tmp_path / "panoramas", n=2, width=64)
    shipped = {"method": "rnn", "weights": str(PHOTOS_WEIGHTS)}
    mine = {"method": "rnn", "weights": str(tmp_path / "mine.msgpack"), "photos": shipped}
    settings = InterpolateSettings(factor=2)
    said = (
        "--weights mine.msgpack: a geometry network; the frames of ordinary photos are made by "
        "the shipped photos network (photos.msgpack), not by it"
    )

    def warnings(capture, record, out):
        result = run_capture(capture, tmp_path / out, settings, interpolator=_Recorded(record))
        return [w for w in result.warnings if w.startswith("--weights")]

    assert [w[: len(said)] for w in warnings(photos, mine, "a")] == [said]
    assert warnings(panoramas, mine, "b") == []  # it makes panoramas' frames
    assert warnings(photos, {**mine, "weights": str(DEFAULT_WEIGHTS)}, "c") == []  # the default
    given = {**mine, "photos": {**shipped, "weights": str(tmp_path / "p.msgpack")}}
    assert warnings(photos, given, "d") == []  # --photos-weights: the network asked for


def test_a_video_walked_in_slow_motion_is_said(tmp_path):
    """Every frame of a video with ``--factor`` 8 plays it 8 x 10 / 30 = 2.7x slower than it was
    shot (a dashcam ride's default: hours of frames nobody asked for): said, with how to sample
    it; a sampled video that plays faster than it was shot is not."""
    from viewsynth.export.video import VideoWriter

    video = tmp_path / "ride.mp4"
    base = _pano(128, 3)[:, :64]
    with VideoWriter(video, 10, quality=10) as writer:
        for i in range(10):
            writer.write(np.roll(base, i, axis=1))
    slow = run_capture(video, tmp_path / "slow", InterpolateSettings(method="linear"))
    said = [w for w in slow.warnings if "slower than the video" in w]
    assert said == [
        "ride.mp4: the walkthrough plays 2.7x slower than the video (2.4 s at 30 fps from 0.9 s "
        "of video: every frame, --factor 8); to play it at its speed or faster, sample it: --set "
        "capture.every_seconds=S, --spacing M (GPS) or --factor 1"
    ], slow.warnings
    manifest = json.loads((tmp_path / "slow" / "manifest.json").read_text())
    assert said[0] in manifest["warnings"]
    from viewsynth.capture import CaptureOptions

    sampled = InterpolateSettings(method="linear", factor=2, capture=CaptureOptions(every_frames=3))
    fast = run_capture(video, tmp_path / "fast", sampled)
    assert not any("slower than the video" in w for w in fast.warnings), fast.warnings
    # Steps of a few centimetres along a real GoPro's track: the way out is a longer step.
    karma = Path(__file__).parent / "data" / "karma_small.mp4"
    dense = run_capture(
        karma, tmp_path / "dense", InterpolateSettings(method="linear", spacing=0.1)
    )
    assert [w for w in dense.warnings if "slower than the video" in w] == [
        "karma_small.mp4: the walkthrough plays 2.3x slower than the video (27.9 s at 30 fps from "
        "12.0 s of video: --spacing 0.1); to play it at its speed or faster, ask a larger --spacing"
    ]


def test_a_variable_rate_video_plays_at_one_speed(tmp_path, monkeypatch):
    """A phone's 30 fps that drops to 10 in the dark: each pair's steps follow its time, so the
    walkthrough plays both parts at one speed (every pair's 8 steps played the dark part 3x
    faster), said; a run made before this has another fingerprint, a constant rate's the same."""
    from capture_fixtures import plain_video
    from test_capture import _write_vfr_video

    from viewsynth.capture import load_capture
    from viewsynth.walkthrough import memory, resume

    video = tmp_path / "phone.mp4"
    _write_vfr_video(video)
    settings = InterpolateSettings(method="linear")
    result = run_capture(video, tmp_path / "out", settings)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    times = frames.video_times(video).times
    shown = [times[int(a.split("#")[1])] + row["t"] * (times[int(b.split("#")[1])]
             - times[int(a.split("#")[1])]) for row in manifest["segments"][0]["frames"]
             for a, b in [row["src"]]]  # fmt: skip
    # output frames per second of video, each part: 8 x 30 less the frames it stands still in
    # (testsrc2: about one in six), the same in both (every pair's 8 steps: 200 and 66)
    per_second = [sum(lo <= t < hi for t in shown) / (hi - lo) for lo, hi in [(0, 1), (1, 3.9)]]
    assert per_second == pytest.approx([200.0, 200.0], rel=0.02), per_second
    said = [w for w in result.warnings if "slower than the video" in w]  # (true of each part)
    slower = float(re.search(r"plays ([\d.]+)x slower", said[0]).group(1))
    assert slower == pytest.approx(per_second[0] / 30, abs=0.1), said
    capture = load_capture(video, settings.capture_options(video))
    # a call holds a pair's in-between frames: the 10 fps part's 23, not --factor's 7
    (w, h), need = capture.working_size, memory.fit_capture(capture, settings)[2]
    assert need - memory.job_bytes(w, h, "linear", factor=8) == 32 * (23 - 7) * w * h
    paced = resume.fingerprints(capture, settings, {})[0]
    monkeypatch.setattr(resume, "video_pace", lambda *args: None)  # (as runs before it made)
    assert resume.fingerprints(capture, settings, {})[0] != paced
    monkeypatch.undo()
    steady = plain_video(tmp_path / "steady.mp4", n=6)
    capture = load_capture(steady, settings.capture_options(steady))
    paced = resume.fingerprints(capture, settings, {})[0]
    monkeypatch.setattr(resume, "video_pace", lambda *args: None)
    assert resume.fingerprints(capture, settings, {})[0] == paced


def test_a_captures_warnings_are_said_before_its_work_and_once(tmp_path, caplog):
    """ "No GPS", "slow motion": said when the run was done, they came an hour into a dashcam
    ride's job. Now before the first frame is made, and not again at the end."""
    from viewsynth.export.video import VideoWriter

    video = tmp_path / "ride.mp4"
    base = _pano(128, 3)[:, :64]
    with VideoWriter(video, 10, quality=10) as writer:
        for i in range(6):
            writer.write(np.roll(base, i, axis=1))
    events = []
    settings = InterpolateSettings(method="linear")
    result = run_capture(
        video, tmp_path / "a", settings, said=lambda lines: events.append(("said", lines)),
        progress=lambda n: events.append(("frames", n)),
    )  # fmt: skip
    assert events[0] == ("said", result.warnings) and len(events) > 1, events[:2]
    assert any("slower than the video" in w for w in result.warnings)
    with caplog.at_level("WARNING", logger="viewsynth"):
        assert interpolate(video, "-o", tmp_path / "b", "--method", "linear") == 0
    said = [r.getMessage() for r in caplog.records if "slower than the video" in r.getMessage()]
    assert len(said) == 1, said
    # Already done: its warnings are its manifest's (an earlier version's wording, here), said
    # once at the end, not again as this version words them before a work that is not done.
    events.clear()
    manifest = tmp_path / "a" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["warnings"] = [
        w.replace("slower than the video", "slower than shot") for w in data["warnings"]
    ]
    manifest.write_text(json.dumps(data))
    again = run_capture(video, tmp_path / "a", settings, said=lambda lines: events.append(lines))
    assert again.status == "skipped" and not events
    assert any("slower than shot" in w for w in again.warnings), again.warnings


def test_a_warning_is_named_by_its_capture_once_in_a_log_of_several(tmp_path, caplog):
    # Ray's log said "ride: ride.mp4: no GPS ..." where the local runner said "ride.mp4: no GPS":
    # both now lead with the capture only where the warning does not name it.
    from viewsynth.runners.mailbox import report
    from viewsynth.walkthrough import CaptureResult, named_warning

    video = tmp_path / "ride.mp4"
    assert named_warning("ride.mp4: no GPS", "ride", video) == "ride.mp4: no GPS"
    assert named_warning("ride: odd", "ride", video) == "ride: odd"
    assert named_warning("no GPS", "ride", video) == "ride: no GPS"
    result = CaptureResult("ride", "done", 3, warnings=["ride.mp4: no GPS", "slow"])
    with caplog.at_level("WARNING", logger="viewsynth"):
        report(result, {"waited": 0.0}, 0, video)
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert lines == ["ride.mp4: no GPS", "ride: slow"], lines
