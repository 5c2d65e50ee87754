"""The roll property through the CLI: ``viewsynth pair`` on a pair and on the pair rolled by half a width.

    .venv/bin/python benchmarks/roll.py [--pair A B] [--width 1024] [--methods sweep flow rnn]
        [--weights FILE]

Both shots are resized to ``--width`` x ``width/2`` (``cv2.INTER_AREA``) and written as PNG, then
rolled by ``width/2`` columns; each method runs ``viewsynth pair A B -o out --method M`` on both
pairs (``rnn`` with ``--weights FILE`` when given), and the figure is the PSNR of the 8-bit
outputs after rolling the plain one. The default
pair is real360_dev gopro_max_garden_a 04/06 when ``../shared`` is there, else the sample walk's
04/05.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from viewsynth import frames
from viewsynth.evaluation.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]

GARDEN = ROOT.parent / "shared" / "data" / "real360_dev" / "gopro_max_garden_a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = [GARDEN / "04.jpg", GARDEN / "06.jpg"]
    if not GARDEN.is_dir():
        default = [ROOT / "samples" / "fusion_forest" / f"{n}.jpg" for n in ("04", "05")]
    ap.add_argument("--pair", nargs=2, type=Path, default=default)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--methods", nargs="+", default=["sweep", "flow", "rnn"])
    ap.add_argument("--weights", type=Path, help="the network rnn runs (default: the shipped one)")
    args = ap.parse_args()
    w = args.width
    cli = Path(sys.executable).with_name("viewsynth")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, path in enumerate(args.pair):
            img = cv2.resize(
                frames.read_image(path).image, (w, w // 2), interpolation=cv2.INTER_AREA
            )
            frames.write_image(tmp / f"plain{i}.png", img)
            frames.write_image(tmp / f"rolled{i}.png", np.roll(img, w // 2, 1))
        print(f"pair {args.pair[0]} {args.pair[1]} at {w}x{w // 2}, rolled by {w // 2} columns")
        for method in args.methods:
            outs = []
            for name in ("plain", "rolled"):
                out = tmp / f"{name}_{method}.png"
                cmd = [str(cli), "pair", str(tmp / f"{name}0.png"), str(tmp / f"{name}1.png")]
                if method == "rnn" and args.weights:
                    cmd += ["--weights", str(args.weights)]
                subprocess.run(
                    [*cmd, "-o", str(out), "--method", method], check=True, capture_output=True
                )
                outs.append(frames.read_image(out).image)
            score = psnr(frames.to_uint8(np.roll(outs[0], w // 2, 1)), frames.to_uint8(outs[1]))
            print(f"{method:6s} roll PSNR {score:6.1f} dB")


if __name__ == "__main__":
    main()
