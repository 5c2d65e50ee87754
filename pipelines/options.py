"""The jobs' command lines: a usage mistake gets one line, as every other bad input does."""

from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (``viewsynth JOB: error: MESSAGE
    (viewsynth JOB --help)``) and exit 2, without the usage block argparse prints above them."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help)\n")


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
