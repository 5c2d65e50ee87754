"""The jobs' command lines: a usage mistake gets one line, as every other bad input does."""

from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (``viewsynth JOB: error: MESSAGE
    (viewsynth JOB --help)``) and exit 2, without the usage block argparse prints above them."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help)\n")
