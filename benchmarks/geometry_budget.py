"""The geometry network with a cheaper (or dearer) geometry: where the pose comes from (SIFT, or the
pair's DIS flows), SIFT's working width and the sphere sweep's knobs, then ``viewsynth benchmark``.

    python benchmarks/geometry_budget.py [--pose flow] [--pose-width 384] [--min-trials 100] [--seeds 0 1 2] \\
        [--sweep work_width=320 ...] \\
        -- --config configs/geometry_probe.yaml --no-publish -o runs/probe_x

Sets :data:`viewsynth.interpolators.NETWORK_GEOMETRY` for this process only (``--method sweep``
keeps its own settings), so the same frames are scored with the network's geometry as given. The
session-15 quality check of the shipped geometry budget ran this way (TRAINING_LOG.md).

``--seeds 0 1 2`` runs the benchmark once per random seed of the pose's RANSAC and tabulates each
set's mean and spread: that draw alone moves the shipped default by up to 0.25 dB on a two-sample
set (TRAINING_LOG.md, session 17), so a geometry change is judged against the seeds' mean.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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


def over_shipped(knobs: list[tuple[str, float]]) -> dict:
    """The network's sweep knobs with ``knobs`` laid over the shipped ones (a knob not named
    keeps its shipped value)."""
    return {**interpolators.NETWORK_GEOMETRY["sweep"], **dict(knobs)}


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
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=[0],
        help="RANSAC seeds: one benchmark per seed (each in <output>_seed<N>), then the mean "
        "and spread of every set's figure (<output>_seeds.md)",
    )  # fmt: skip
    args = ap.parse_args(ours)
    interpolators.NETWORK_GEOMETRY.update(
        pose=args.pose,
        pose_width=args.pose_width,
        min_trials=args.min_trials,
        sweep=over_shipped(args.sweep),
    )
    if len(args.seeds) == 1:
        interpolators.NETWORK_GEOMETRY["seed"] = args.seeds[0]
        print(f"network geometry: {interpolators.NETWORK_GEOMETRY}", file=sys.stderr)
        return benchmark.main(rest)
    out = output_of(rest)
    runs = []
    for seed in args.seeds:
        interpolators.NETWORK_GEOMETRY["seed"] = seed
        print(f"network geometry: {interpolators.NETWORK_GEOMETRY}", file=sys.stderr)
        run = out.with_name(f"{out.name}_seed{seed}")
        code = benchmark.main(with_output(rest, run))
        if code:
            return code
        runs.append((seed, run))
    table = seed_table(runs)
    out.with_name(f"{out.name}_seeds.md").write_text(table)
    print(table)
    return 0


def output_of(rest: list[str]) -> Path:
    """The benchmark's ``-o``/``--output`` folder in its arguments (needed for several seeds)."""
    for flag in ("-o", "--output"):
        if flag in rest and rest.index(flag) + 1 < len(rest):
            return Path(rest[rest.index(flag) + 1])
    raise SystemExit("geometry_budget: --seeds with several seeds needs the benchmark's -o DIR")


def with_output(rest: list[str], folder: Path) -> list[str]:
    """``rest`` with its ``-o``/``--output`` folder replaced by ``folder``."""
    out = list(rest)
    for flag in ("-o", "--output"):
        if flag in out:
            out[out.index(flag) + 1] = str(folder)
    return out


def seed_table(runs: list[tuple[int, Path]]) -> str:
    """Markdown: per set and method, each seed's figure (trc-WS-PSNR where the set has it, else
    WS-PSNR), their mean and spread (max - min)."""
    figures: dict[tuple[str, str], list[float]] = {}
    for _, run in runs:
        for s in json.loads((run / "results.json").read_text())["sets"]:
            for method, summary in s["summary"].items():
                value = summary.get("trc_ws_psnr")
                value = summary.get("ws_psnr") if value is None else value
                figures.setdefault((s["name"], method), []).append(float(value))
    seeds = " | ".join(f"seed {seed}" for seed, _ in runs)
    lines = [
        "trc-WS-PSNR (WS-PSNR where a set has no fitted time), per RANSAC seed of the network's "
        "pose",
        "",
        f"| set | method | {seeds} | mean | spread |",
        "|---|---|" + "---:|" * (len(runs) + 2),
    ]
    for (name, method), values in figures.items():
        cells = " | ".join(f"{v:.2f}" for v in values)
        lines.append(
            f"| {name} | {method} | {cells} | {sum(values) / len(values):.3f} | "
            f"{max(values) - min(values):.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
