"""The console script's set-up: JAX's persistent compilation cache for every job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from viewsynth import frames
from viewsynth.model import ModelConfig, Network, save_weights
from viewsynth.pipelines.cli import compile_cache_env

ROOT = Path(__file__).resolve().parents[1]


def test_the_cache_folder_follows_the_environment(tmp_path):
    env = compile_cache_env({"HOME": str(tmp_path / "home")})
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(
        tmp_path / "home" / ".cache" / "viewsynth" / "jax"
    )
    assert Path(env["JAX_COMPILATION_CACHE_DIR"]).is_dir()
    assert env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    xdg = compile_cache_env({"HOME": "/nonexistent", "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert xdg["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "xdg" / "viewsynth" / "jax")
    own = compile_cache_env({"VIEWSYNTH_JAX_CACHE": str(tmp_path / "mine")})
    assert own["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "mine")
    assert compile_cache_env({"VIEWSYNTH_JAX_CACHE": "off", "HOME": str(tmp_path)}) == {}
    # A cache the user set up for JAX is theirs; an unwritable place means no cache, no error.
    assert compile_cache_env({"JAX_COMPILATION_CACHE_DIR": "/x", "HOME": str(tmp_path)}) == {}
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert compile_cache_env({"VIEWSYNTH_JAX_CACHE": str(blocker / "jax")}) == {}


def test_a_job_fills_the_cache_and_a_second_run_gives_the_same_frame(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        frames.write_image(tmp_path / f"{name}.png", rng.random((32, 48, 3)).astype(np.float32))
    weights = tmp_path / "tiny.msgpack"
    save_weights(weights, Network(ModelConfig.tiny(), rngs=nnx.Rngs(0)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("VIEWSYNTH_JAX_CACHE", None)
    outs = []
    for run in range(2):
        out = tmp_path / f"mid{run}.png"
        cmd = [sys.executable, "-m", "viewsynth.pipelines.cli", "pair", str(tmp_path / "a.png"),
               str(tmp_path / "b.png"), "-o", str(out), "--method", "rnn", "--weights", str(weights)]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        outs.append(frames.read_image(out).image)
        if run == 0:
            entries = list((tmp_path / "cache" / "viewsynth" / "jax").iterdir())
            assert len(entries) >= 2  # the network's encode and decode at least
    np.testing.assert_array_equal(outs[0], outs[1])


def test_ctrl_c_turned_into_a_librarys_error_still_reads_as_interrupted(monkeypatch, capsys):
    """pycolmap answers Ctrl-C during its first import with "Cannot import the C++ backend": the
    job says it was interrupted (130), not that the install is broken; other errors still raise."""
    import types

    from viewsynth.pipelines import cli

    def stopped(argv):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("Cannot import the C++ backend pycolmap._core.") from None

    def broken(argv):
        raise RuntimeError("a real bug")

    for job_main, want in ((stopped, 130), (broken, None)):
        fake = types.SimpleNamespace(main=job_main)
        monkeypatch.setattr(cli.importlib, "import_module", lambda name, fake=fake: fake)
        if want is None:
            with pytest.raises(RuntimeError, match="a real bug"):
                cli.main(["pair", "x"])
        else:
            assert cli.main(["pair", "x"]) == want
            assert "interrupted; finished work is kept" in capsys.readouterr().err


def test_kill_during_the_jobs_imports_stops_as_ctrl_c_does(monkeypatch, capsys):
    """`kill PID` in the first second (the job's imports: JAX, OpenCV) once ended the process by
    the signal (exit 143); interpolate and train now stop as Ctrl-C does from their first moment."""
    import signal

    from viewsynth.pipelines import cli

    def importing(name):  # the signal comes while the job's module is being imported
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the import")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli.importlib, "import_module", importing)
    try:
        for job in cli.STOP_ON_SIGTERM:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            assert cli.main([job, "x"]) == 130
            assert f"viewsynth {job}: interrupted; finished work is kept" in capsys.readouterr().err
    finally:
        signal.signal(signal.SIGTERM, before)


def assert_one_line_errors(cases, cwd) -> None:
    """Each ``(args, needle)``: the console script exits 2 with one line holding ``needle``."""
    for args, needle in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "viewsynth.pipelines.cli", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], (args, proc.stderr)


def test_a_job_never_writes_its_weights_over_a_photo_or_into_a_file(tmp_path):
    """``finetune -o`` and ``train --export`` replace only a viewsynth weights file (a fine-tune
    written again); a photo given by mistake, a folder, or a path under a file is one line, exit
    2, before any work, as is a report or work folder that is a file and a config that is not
    YAML text."""
    photo = tmp_path / "01.jpg"
    frames.write_image(photo, np.random.default_rng(0).random((32, 64, 3)).astype(np.float32))
    kept = photo.read_bytes()
    weights = tmp_path / "old.msgpack"
    save_weights(weights, Network(ModelConfig.tiny(), rngs=nnx.Rngs(0)))
    blocker = tmp_path / "afile"
    blocker.write_text("")
    cases = [
        (["finetune", str(tmp_path), "-o", str(photo)], "not a viewsynth weights file"),
        (["finetune", str(tmp_path), "-o", str(tmp_path)], "a folder; give a weights file"),
        (["finetune", str(tmp_path), "-o", str(blocker / "w.msgpack")], "is a file, not a folder"),
        (["finetune", str(tmp_path), "-o", "w.msgpack", "--workdir", str(blocker)], "not a folder"),
        (["train", "--export", str(photo)], "not a viewsynth weights file"),
        (["train", "--config", str(photo)], "not a YAML text file"),
        (["train", "--config", str(tmp_path)], "a folder, not a config file"),
        (["evaluate", str(tmp_path), "-o", str(blocker)], "is a file, not a folder"),
    ]
    assert_one_line_errors(cases, tmp_path)
    assert photo.read_bytes() == kept
    from viewsynth.pipelines.options import weights_output

    assert weights_output(weights, "-o") == weights  # a fine-tune written again: allowed


def test_numbers_out_of_range_are_one_line_before_any_work(tmp_path):
    """A port past 65535, a negative count and a generated size of nothing are argparse's own
    one-line errors, not a traceback from deep in the job; a file given to view says so."""
    afile = tmp_path / "w.msgpack"
    afile.write_text("")
    cases = [
        (["view", str(tmp_path), "--port", "70000"], "--port: must be in 0..65535, got 70000"),
        (["view", str(afile)], "a file; give the output folder"),
        (["evaluate", "--render", "1", "--size", "0x0"], "width and height must be at least 16"),
        (["evaluate", "--render", "-3"], "--render: must be at least 0, got -3"),
        (["evaluate", str(tmp_path), "--limit", "-1"], "--limit: must be at least 0, got -1"),
    ]
    assert_one_line_errors(cases, tmp_path)


def test_a_folder_given_as_weights_says_so(tmp_path):
    """``--weights`` naming a folder said "no such file" (evaluate) or "not found"."""
    (tmp_path / "w").mkdir()
    for name in ("a.png", "b.png"):
        frames.write_image(tmp_path / name, np.zeros((16, 24, 3), np.float32))
    assert_one_line_errors(
        [
            (["evaluate", "--synthetic", "1", "--weights", "w"], "w: a folder, not a weights"),
            (["pair", "a.png", "b.png", "-o", "m.png", "--weights", "w"], "a folder, not a"),
        ],
        tmp_path,
    )


ARGS_GIVEN = "--method flow --factor 4"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_interpolate_takes_a_folder_whose_name_has_spaces_and_quotes(tmp_path):
    # The README's first command with a camera's folder as users name them: before, the shell
    # split "My Walk" into two arguments and the job stopped ("unrecognized arguments: Walk").
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "viewsynth"  # prints the arguments it was given, one JSON list
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    stamp = tmp_path / "installed"
    stamp.touch()
    capture, out = tmp_path / "Bob's (2) walk", tmp_path / "out dir"
    args = ["make", "-s", "-C", str(ROOT), "interpolate", f"BIN={bin_dir}", f"STAMP={stamp}"]
    args += [f"CAPTURE={capture}", f"OUT={out}", f"ARGS={ARGS_GIVEN}"]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    argv = json.loads(done.stdout.splitlines()[-1])
    assert argv == ["interpolate", str(capture), "-o", str(out), *ARGS_GIVEN.split()]
