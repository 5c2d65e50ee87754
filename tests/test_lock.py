"""One run per output folder: a busy folder is a one-line error with exit 2, naming the holder;
a lock left by a killed run does not block; the lock goes when the run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewsynth import frames
from viewsynth.errors import ViewsynthError
from viewsynth.pipelines.cli import main as cli
from viewsynth.walkthrough import LOCK_FILE, FolderLock, InterpolateSettings, run_capture

# Holds the lock on argv[1] until its stdin closes (or it is killed).
_HOLD = """
import sys
from pathlib import Path
from viewsynth.walkthrough.lock import FolderLock
with FolderLock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def make_capture(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True)
    base = np.random.default_rng(0).random((16, 32, 3)).astype(np.float32)
    for i in range(n):
        frames.write_image(folder / f"f{i}.png", np.roll(base, 2 * i, axis=1))
    return folder


def hold(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s lock (it answers once it does)."""
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline() == "held\n"
    return proc


def interpolate(capture: Path, out: Path) -> int:
    return cli(["interpolate", str(capture), "-o", str(out), "--method", "linear", "-q"])


@pytest.mark.parametrize("root", [False, True], ids=["capture", "root of captures"])
def test_a_second_run_into_a_busy_folder_is_one_line_exit_2_naming_the_holder(
    tmp_path, capsys, root, monkeypatch
):
    from viewsynth.walkthrough import run as run_module

    load = run_module.load_capture
    capture = make_capture(tmp_path / "root" / "a") if root else make_capture(tmp_path / "cap")
    if root:
        make_capture(tmp_path / "root" / "b")
    out = tmp_path / "out"
    holder = hold(out)
    read = []  # captures read: a busy folder is refused before its capture is read
    monkeypatch.setattr(
        run_module, "load_capture", lambda *a, **kw: read.append(a) or load(*a, **kw)
    )
    try:
        assert interpolate(tmp_path / "root" if root else capture, out) == 2
        assert read == []
    finally:
        holder.stdin.close()
        holder.wait()
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"viewsynth interpolate: error: {out}: another viewsynth run (process {holder.pid}) is "
        "writing into this output folder; wait for it to end or choose another folder"
    )
    assert sorted(p.name for p in out.iterdir()) == []  # nothing written; the holder's lock gone
    # Once the other run has ended, the folder is free.
    assert interpolate(tmp_path / "root" if root else capture, out) == 0
    assert LOCK_FILE not in os.listdir(out)


def test_a_lock_left_by_a_killed_run_does_not_block(tmp_path):
    capture = make_capture(tmp_path / "cap")
    out = tmp_path / "out"
    holder = hold(out)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (out / LOCK_FILE).read_text().strip() == str(holder.pid)  # the dead run's file stays
    assert interpolate(capture, out) == 0
    assert (out / "walkthrough.mp4").exists() and not (out / LOCK_FILE).exists()


def test_the_lock_is_released_when_the_run_ends_however_it_ends(tmp_path):
    capture = make_capture(tmp_path / "cap")
    out = tmp_path / "out"
    settings = InterpolateSettings(method="linear", factor=2)
    assert run_capture(capture, out, settings).status == "done"
    assert not (out / LOCK_FILE).exists()

    class Crashing:
        name = "crashing"

        def record(self) -> dict:
            return {"method": self.name}

        def last_pair(self) -> dict:
            return {}

        def __call__(self, img0, img1, times, *, equirect=False, hfov=None):
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run_capture(capture, tmp_path / "crashed", settings, interpolator=Crashing())
    assert not (tmp_path / "crashed" / LOCK_FILE).exists()
    with FolderLock(tmp_path / "crashed"):  # free again
        assert (tmp_path / "crashed" / LOCK_FILE).read_text() == f"{os.getpid()}\n"


def test_the_lock_holds_between_two_holders_in_one_process(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(ViewsynthError, match=rf"\(process {os.getpid()}\)"):
            with FolderLock(tmp_path):
                pass
        assert (tmp_path / LOCK_FILE).exists()  # the refused one leaves the holder's file
    assert not (tmp_path / LOCK_FILE).exists()
