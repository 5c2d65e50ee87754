"""The jobs' command lines: a usage mistake gets one line, as every other bad input does."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from viewsynth.errors import ViewsynthError


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (``viewsynth JOB: error: MESSAGE
    (viewsynth JOB --help)``) and exit 2, without the usage block argparse prints above them."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help)\n")


def user_path(text: str) -> Path:
    """A path from the command line, ``~`` expanded: the shell leaves ``--output=~/walk`` as it
    is, which would otherwise make a folder named ``~`` here."""
    return Path(text).expanduser()


def add_frame_options(p: argparse.ArgumentParser, projection: str | None = None) -> None:
    """The options ``interpolate`` and ``pair`` share: the projection (default ``projection``:
    None leaves it to the settings) and the network's K, working scale and weights."""
    p.add_argument(
        "--projection",
        choices=("auto", "equirect", "perspective"),
        default=projection,
        help="360 panoramas or ordinary photos (default auto: metadata, else the seam)",
    )
    p.add_argument(
        "--iters", type=int, help="rnn: recurrent iterations K (default: the model's, 1)"
    )
    p.add_argument(
        "--scale",
        type=float,
        help="rnn: decide at S x size, warp at full size (default auto: at most 512 wide)",
    )
    p.add_argument("--weights", help="rnn: weights file (default: the shipped model)")
    p.add_argument(
        "--photos-weights", metavar="FILE",
        help="rnn: the network for ordinary photos with a pose (default: the shipped one)",
    )  # fmt: skip


def writable_folder(path: str | Path | None, what: str, given: Path | None = None) -> Path | None:
    """``path`` as a folder a job may create or fill (None passes): refused in one line, before
    any work, when it, or a folder above it, is a file. ``what`` names the option, ``given`` the
    path the user gave (``path`` itself, or the file to be written in it)."""
    if path is None:
        return None
    path = Path(path)
    for place in (path, *path.parents):
        if place.exists():
            if not place.is_dir():
                raise ViewsynthError(f"{what} {given or path}: {place} is a file, not a folder")
            return path
    return path


def weights_output(path: str | Path, what: str) -> Path:
    """``path`` as a weights file a job may write, checked before any work: its folder must be
    one (or can be made), and an existing file there is replaced only if it is viewsynth weights
    (a fine-tune written again), never a photo or anything else given by mistake."""
    from viewsynth.errors import WeightsError
    from viewsynth.model.weights import read_meta

    path = Path(path)
    if path.is_dir():
        raise ViewsynthError(f"{what} {path}: a folder; give a weights file (e.g. mine.msgpack)")
    writable_folder(path.parent, what, path)
    if path.exists():
        try:
            read_meta(path)
        except WeightsError:
            raise ViewsynthError(
                f"{what} {path}: exists and is not a viewsynth weights file; not overwritten"
            ) from None
    return path


def integer(low: int, high: int | None = None):
    """An argparse ``type``: an integer in ``[low, high]`` (no upper bound when None), else
    argparse's one-line error saying the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f"at least {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value

    return parse


def stop_on_sigterm() -> None:
    """Make ``kill PID`` (SIGTERM) stop this job as Ctrl-C does: ``KeyboardInterrupt`` in the main
    thread, so the job keeps its finished work, says what it did and exits 130 (else the process
    would end at once, its partial files left behind). Call it after importing pycolmap, whose
    glog puts in its own handler (``viewsynth.geometry.pose.load_pycolmap`` puts the one before
    back)."""

    def terminate(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
