"""``viewsynth train --config FILE [--set key=value ...] [--export FILE]``

Trains (or resumes) the network in the config's work folder. ``configs/train_debug.yaml`` is a
tiny run (a minute); ``configs/shipped/`` holds the shipped model's recipe, one config per step
(the default is its first step)::

    runs/train/                   work folder (config.yaml, checkpoints/, metrics.jsonl, loss.png,
                                  best.msgpack, last.msgpack); a launch resumes it only with its
                                  config.yaml's settings (steps and when to stop, log, save or
                                  validate may change)
    --export FILE                 afterwards, the best weights are copied to FILE
                                  (e.g. viewsynth/weights/default.msgpack)

Interrupt it at any time (Ctrl-C or SIGTERM: a checkpoint of the steps done is written first):
the next launch resumes from there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from viewsynth.errors import ViewsynthError
from viewsynth.pipelines.options import (
    Parser,
    stop_on_sigterm,
    weights_output,
    writable_folder,
)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str]) -> int:
    parser = Parser(
        prog="viewsynth train",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[2:]),
    )
    parser.add_argument(
        "--config",
        default="configs/shipped/01_cpu_classical_start.yaml",
        help="YAML config (default: %(default)s)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value"
    )
    parser.add_argument("--export", metavar="FILE", help="copy the best weights to FILE when done")
    args = parser.parse_args(argv)
    if args.export:
        weights_output(args.export, "--export")
    commit = _commit()  # before JAX starts its threads (fork after that can deadlock)

    from viewsynth.geometry.pose import load_pycolmap

    load_pycolmap()  # before the handler: pycolmap's own would replace it on import
    stop_on_sigterm()  # `kill PID` stops like Ctrl-C: checkpoint first

    from viewsynth.training import loop
    from viewsynth.training.config import load_config

    cfg = load_config(args.config, args.set)
    writable_folder(cfg.workdir, "workdir")
    if args.export and cfg.validation.every <= 0:  # (it failed after the whole run)
        raise ViewsynthError(
            f"--export copies the best validated weights, and validation.every is "
            f"{cfg.validation.every}: set it, or copy {cfg.workdir}/last.msgpack when done"
        )

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    log(f"training in {cfg.workdir} up to step {cfg.steps}")
    result = loop.train(cfg, log=log, meta={"commit": commit, "config": args.config})
    if result.end_step == result.start_step:  # (its loss was NaN: no step taken, none diverged)
        log(f"nothing to train: at step {result.end_step}, steps {cfg.steps} (more: --set steps=N)")
    else:
        log(
            f"done: steps {result.start_step} -> {result.end_step}, last loss {result.last_loss:.4f}"
        )
    if args.export:
        meta = loop.export_best(cfg.workdir, args.export)
        log(f"exported best weights (step {meta.get('steps')}) to {args.export}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
