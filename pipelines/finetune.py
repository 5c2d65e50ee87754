"""``viewsynth finetune CAPTURE -o WEIGHTS [--steps N] [--weights BASE] [--targets odd|even|all]``

Adapts the shipped network that makes the capture's frames (or BASE) to it, self-supervised:
frames i - 1 and i + 1 predict frame i. Panoramas tune the geometry network; ordinary photos the
2D network, which then makes every pair (on Lund it gained more than the photos network tuned); a
photos BASE (``--weights viewsynth/weights/photos.msgpack``) is tuned on the triplets whose pair
has a usable pose (the others' pairs stay the shipped 2D network's, said). Writes one weights file
that ``viewsynth interpolate --weights WEIGHTS`` takes (a photos network's: for ordinary photos)::

    CAPTURE/            a folder of images or a video file, read as `viewsynth interpolate`
      0001.jpg ...      reads it: time order, segments cut at gaps, panoramas facing the travel
    WEIGHTS             e.g. my_street.msgpack

Triplets never cross a segment gap. ``--targets odd`` learns only odd middle frames (counted as
``viewsynth evaluate`` counts them: file-name order among the folder's images, or frame number in a
video), so the even ones stay unseen as targets, for a fair leave-one-out ``--parity even``.
"""

from __future__ import annotations

import argparse
import sys
import time

from viewsynth.pipelines.options import Parser, stop_on_sigterm, weights_output, writable_folder


def main(argv: list[str]) -> int:
    parser = Parser(
        prog="viewsynth finetune",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[2:]),
    )
    parser.add_argument("capture", help="folder of images or a video file")
    parser.add_argument(
        "-o", "--output", required=True, metavar="WEIGHTS", help="weights file to write"
    )
    parser.add_argument(
        "--weights",
        metavar="BASE",
        help="start from these weights (default: the shipped geometry network for panoramas, "
        "the 2D network for photos; viewsynth/weights/photos.msgpack: the photos network)",
    )
    parser.add_argument(
        "--steps", type=int, help="optimisation steps (default from the config: 200)"
    )
    parser.add_argument("--targets", choices=("all", "even", "odd"), help="middle frames to learn")
    parser.add_argument("--config", help="YAML settings (e.g. configs/finetune.yaml)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting"
    )
    parser.add_argument(
        "--workdir", help="keep checkpoints here (a re-run resumes); default: temporary"
    )
    args = parser.parse_args(argv)
    weights_output(args.output, "-o")
    writable_folder(args.workdir, "--workdir")

    from viewsynth import config as config_lib
    from viewsynth.geometry.pose import load_pycolmap
    from viewsynth.training.finetune import FinetuneConfig, finetune

    load_pycolmap()  # before the handler, as train does: pycolmap's own would replace it
    stop_on_sigterm()  # `kill PID` stops like Ctrl-C: checkpoint first

    overrides = list(args.set)
    if args.steps is not None:
        overrides.append(f"steps={args.steps}")
    if args.targets:
        overrides.append(f"targets={args.targets}")
    cfg = config_lib.load(FinetuneConfig, args.config, overrides)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    result = finetune(
        args.capture, args.output, cfg, base=args.weights, workdir=args.workdir, log=log
    )
    gain = ""
    if result.before and result.after:
        gain = f" (fit on its triplets: {result.before['model']:.2f} -> {result.after['model']:.2f} dB)"
    log(f"wrote {args.output} after {result.steps} steps on {result.triplets} triplets{gain}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
