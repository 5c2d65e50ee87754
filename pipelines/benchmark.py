"""``viewsynth benchmark``: the standard quality and speed suite (``make benchmark``).

    viewsynth benchmark [--config configs/benchmark.yaml | --full] [--set key=value ...]
                        [-o RUN_DIR] [--weights FILE] [--external NAME='cmd {list}' ...]
                        [--no-speed] [--no-job] [--no-walk] [--no-publish]
    viewsynth benchmark --publish RUN_DIR [--config ...]

    configs/benchmark.yaml ─► sets (../shared/data when present, else generated) × methods,
                              the sample walk's pulse and step ratio per method,
                              speed per call, the job per output frame (viewsynth interpolate)
        ─► reports/benchmark/<timestamp>/  results.json  table.md  config.yaml  *.png
        ─► reports/benchmark/latest.md     (a copy of table.md, kept in git)
        ─► docs/BENCHMARK.md               (the full tables, between the benchmark markers)

``--full`` runs configs/benchmark_full.yaml instead (``make benchmark-full``): the same suite with
every K, the time-fitted scores, 8 t per call and 5760x2880 for every method; the difference is
data in the two configs. Progress goes to stderr: per set, per size and per capture, what is
done, what is left and the estimated time left.

A config with no ``datasets`` and no ``fallback`` runs the other sections only, e.g. the walk
alone: ``viewsynth benchmark --set datasets=[] --set fallback=[] --no-speed --no-job --no-publish``.
``--only SET ...`` runs those of the config's sets alone (by name: ``--only Middlebury-other
UCF101 --no-speed --no-job --no-walk``), never published (nor later by ``--publish``).
``--no-publish`` leaves latest.md and docs/BENCHMARK.md alone (a trial run); ``--publish RUN_DIR``
publishes such a run afterwards, from its ``results.json``, without running anything. Paths in the config are
relative to the config file; ``--weights`` and ``-o`` are relative to the current folder.
``--external`` adds an external method to the config's ``external`` list (as in ``viewsynth
evaluate``); ``make benchmark PEERS=rife`` uses it for RIFE (benchmarks/rife/).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import sys
import time
from pathlib import Path

import yaml

from viewsynth import config as cfgmod
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.evaluate import (
    BenchmarkConfig,
    SetResult,
    evaluate,
    open_sets,
    tell_notes,
)
from viewsynth.evaluation.job import time_job
from viewsynth.evaluation.peers import ExternalCommand, parse_external, resolve_methods
from viewsynth.evaluation.report import render_markdown, run_info, update_section, write_report
from viewsynth.evaluation.speed import measure_speed
from viewsynth.evaluation.walk import measure_walk
from viewsynth.frames import new_run_dir, write_text
from viewsynth.pipelines.options import Parser, writable_folder

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = Parser(
        prog="viewsynth benchmark",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--config", type=Path, help="suite config (default configs/benchmark.yaml)")
    which.add_argument(
        "--full", action="store_true", help="the full sweep: configs/benchmark_full.yaml"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override")
    p.add_argument(
        "-o", "--output", type=Path, help="run folder (default <report_dir>/<timestamp>)"
    )
    p.add_argument(
        "--weights", help="rnn weights (default: the config's, else the shipped model); no publish"
    )
    p.add_argument(
        "--external",
        action="append",
        default=[],
        metavar="NAME='cmd {list}'",
        help="also run this external method (added to the config's external list)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="SET",
        help="only these of the config's sets, by name (no publish)",
    )
    p.add_argument("--no-speed", action="store_true", help="no per-call speed section")
    p.add_argument("--no-job", action="store_true", help="do not time viewsynth interpolate")
    p.add_argument("--no-walk", action="store_true", help="no pulse and step ratio of the walk")
    p.add_argument(
        "--no-publish", action="store_true", help="leave latest.md and docs/BENCHMARK.md alone"
    )
    p.add_argument(
        "--publish", type=Path, metavar="RUN_DIR", help="publish a finished run; run nothing"
    )
    return p.parse_args(argv)


def publish(cfg: BenchmarkConfig, here, run_dir: Path) -> str:
    """Copy a finished run's table to ``cfg.latest`` and into the benchmark section of the
    document ``cfg.tables`` names (``docs/BENCHMARK.md`` in ``configs/benchmark.yaml``)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ViewsynthError(f"--publish {run_dir}: a file; give a finished run's folder")
    path = run_dir / "results.json"
    try:
        data = json.loads(path.read_text())
        sets = [SetResult.from_json(s) for s in data["sets"]]
        info, speed, notes = data["info"], data["speed"], data["notes"]
        job = data.get("job", [])  # runs before the job section have none
        walk = data.get("walk", [])  # nor before the walk section
    except FileNotFoundError:
        raise ViewsynthError(f"{path}: no such file (--publish needs a finished run)") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ViewsynthError(f"{path}: not a benchmark run's results ({err})") from None
    only = data.get("settings", {}).get("only")
    if only:  # (its tables would replace the whole suite's)
        raise ViewsynthError(
            f"--publish {run_dir}: a run of some sets only (--only {' '.join(only)}), never "
            "published; publish a run of the whole suite"
        )
    table = render_markdown(info, sets, speed, notes, job_rows=job, walk_rows=walk)
    here(cfg.latest).parent.mkdir(parents=True, exist_ok=True)
    write_text(here(cfg.latest), table)
    more = (
        "Plots, crops across the seam and per-sample scores: `viewsynth benchmark` writes "
        "them to `reports/benchmark/<timestamp>/`; this table is also in "
        "`reports/benchmark/latest.md`."
    )
    body = render_markdown(
        info,
        sets,
        speed,
        notes,
        title="The published run",
        level=2,
        more=more,
        job_rows=job,
        walk_rows=walk,
    )
    update_section(here(cfg.tables), body)
    return table


def config_path(given: Path | None, full: bool = False) -> Path:
    """The config to run: ``given``, else configs/benchmark.yaml (``full``: benchmark_full.yaml),
    in the current folder's configs/ when there, else the repository's."""
    if given is not None:
        return given
    name = "benchmark_full.yaml" if full else "benchmark.yaml"
    local = Path("configs") / name
    return local if local.is_file() else REPO / "configs" / name


def with_externals(cfg: BenchmarkConfig, specs: list[str]) -> BenchmarkConfig:
    """``cfg`` with the ``--external NAME='cmd {list}'`` methods appended to its ``external``."""
    if not specs:
        return cfg
    listed = cfgmod.to_dict(cfg)["external"]
    for ext in (parse_external(spec) for spec in specs):
        if ext.name in cfg.methods or any(e["name"] == ext.name for e in listed):
            raise ViewsynthError(
                f"--external {ext.name}: the config already has a method of that name"
            )
        listed.append({"name": ext.name, "command": ext.template})
    return cfgmod.replace(cfg, external=listed)


def only_sets(cfg: BenchmarkConfig, names: list[str] | None) -> BenchmarkConfig:
    """``cfg`` with only the sets named (``--only``); an unknown name is an error listing them."""
    if not names:
        return cfg
    known = [d.name for d in cfg.datasets]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ViewsynthError(
            f"--only {unknown[0]!r}: no such set; the config's: {', '.join(known)}"
        )
    return cfgmod.replace(cfg, datasets=[d for d in cfg.datasets if d.name in names], fallback=[])


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    writable_folder(args.output, "-o")
    started = time.perf_counter()
    path = config_path(args.config, args.full)
    cfg = cfgmod.load(BenchmarkConfig, path, args.set)
    cfg = only_sets(with_externals(cfg, args.external), args.only)
    base = path.resolve().parent

    def here(p: str) -> Path:
        return (Path(p) if Path(p).is_absolute() else base / p).resolve()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.publish is not None:
        print(publish(cfg, here, args.publish))
        return 0

    weights = args.weights or (str(here(cfg.weights)) if cfg.weights else None)
    methods, notes = resolve_methods(cfg.methods, cfg.iters, weights)
    externals = [ExternalCommand(e.name, e.command) for e in cfg.external]
    datasets, set_notes = open_sets(cfg.datasets, cfg.fallback, base)
    notes += set_notes
    if not datasets and (cfg.datasets or cfg.fallback):
        raise ViewsynthError(f"{path}: no dataset could be opened: " + "; ".join(notes))
    if not methods and not externals:
        raise ViewsynthError(f"{path}: no method left to run: " + "; ".join(notes))
    for note in notes:
        log(f"note: {note}")

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    command = "viewsynth benchmark " + " ".join(shlex.quote(a) for a in argv)
    info = run_info(REPO, command.strip())

    results = evaluate(datasets, methods, externals, log=log) if datasets else []
    tell_notes(results, log)
    walk_rows: list[dict] = []
    if cfg.walk.enabled and cfg.walk.capture and not args.no_walk:
        # rnn at the model's default K here, what users get.
        names = cfg.walk.methods or cfg.methods
        walk_methods, walk_notes = resolve_methods(names, (), weights)
        walk_rows, more = measure_walk(cfg.walk, walk_methods, base, externals, log=log)
        notes += [n for n in walk_notes + more if n not in notes]
    speed_rows: list[dict] = []
    if cfg.speed.enabled and not args.no_speed:
        speed_rows, speed_notes = measure_speed(methods, cfg.speed, log=log)
        notes += speed_notes
        if externals:
            notes.append("speed: external commands are not timed here (see their s/frame above)")
    job_rows: list[dict] = []
    if cfg.job.enabled and not args.no_job:
        job_rows, job_notes = time_job(cfg.job, base, log=log)
        notes += job_notes
    info["wall_s"] = time.perf_counter() - started

    out = args.output or new_run_dir(here(cfg.report_dir), stamp)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", yaml.safe_dump(cfgmod.to_dict(cfg), sort_keys=False))
    settings = dict(cfgmod.to_dict(cfg), only=args.only or [])
    table = write_report(
        out, info, results, speed_rows, notes, settings, job_rows=job_rows, walk_rows=walk_rows
    )
    if not (args.no_publish or args.only or args.weights):  # (nor a subset, nor another network)
        publish(cfg, here, out)
    print(table)
    if args.weights and not args.no_publish:
        log(
            f"not published: --weights {args.weights} is not the config's network (--publish RUN_DIR)"
        )
    log(f"report: {out} ({info['wall_s'] / 60:.1f} min)")
    return 0
