"""The geometry network with a cheaper (or dearer) geometry: where the pose comes from (SIFT, or the
pair's DIS flows), SIFT's working width and the sphere sweep's knobs, then ``viewsynth benchmark``.

    python benchmarks/geometry_budget.py [--pose flow] [--pose-width 384] [--min-trials 100] \\
        [--sweep work_width=320 ...] \\
        -- --config configs/geometry_probe.yaml --no-publish -o runs/probe_x

Sets :data:`viewsynth.interpolators.NETWORK_GEOMETRY` for this process only (``--method sweep``
keeps its own settings), so the same frames are scored with the network's geometry as given. The
session-15 quality check of the shipped geometry budget ran this way (TRAINING_LOG.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewsynth import interpolators  # noqa: E402
from viewsynth.pipelines import benchmark  # noqa: E402


def knob(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` -> a :class:`viewsynth.sweep.SweepConfig` field and its value, of its type."""
    from viewsynth.sweep import SweepConfig

    name, _, value = text.partition("=")
    kinds = {f.name: type(f.default) for f in dataclasses.fields(SweepConfig)}
    if name not in kinds:
        raise argparse.ArgumentTypeError(f"--sweep: no SweepConfig field {name!r} (in {text!r})")
    try:
        return name, kinds[name](value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sweep {name}: {value!r} is not a {kinds[name].__name__} value"
        ) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, rest = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pose", choices=interpolators.POSE_SOURCES, default="sift",
        help="where the pose comes from: SIFT matches or the pair's DIS flows",
    )  # fmt: skip
    ap.add_argument("--pose-width", type=int, default=None)
    ap.add_argument("--min-trials", type=int, default=None, help="RANSAC's least samples")
    ap.add_argument(
        "--sweep", type=knob, action="append", default=[], help="SweepConfig NAME=VALUE"
    )
    args = ap.parse_args(ours)
    interpolators.NETWORK_GEOMETRY.update(
        pose=args.pose, pose_width=args.pose_width, min_trials=args.min_trials,
        sweep=dict(args.sweep),
    )
    print(f"network geometry: {interpolators.NETWORK_GEOMETRY}", file=sys.stderr)
    return benchmark.main(rest)


if __name__ == "__main__":
    sys.exit(main())
