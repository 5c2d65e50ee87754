"""``viewsynth interpolate``: capture folders to walkthrough videos.

    viewsynth interpolate CAPTURE -o OUT [--method rnn|flow|linear] [--factor N | --spacing M] ...

    CAPTURE = a folder of images (or a video file)  ->  OUT/walkthrough_360.mp4, walkthrough.mp4,
                                                        manifest.json [, frames/]
    CAPTURE = a root of capture sub-folders         ->  OUT/<sub-folder>/... and OUT/summary.json

One run per output folder: a run holds its folder (``OUT``, or ``OUT/<sub-folder>`` while it
writes that capture, and ``OUT`` itself for the whole run of a root) and a second run into a
folder held exits with status 2, naming the process that holds it.

Exit codes: 0 all done (warnings allowed); 1 some captures of a root failed, or an internal
error; 2 unusable input or usage, or the output folder busy, nothing written; 130 interrupted
(Ctrl-C or SIGTERM: finished work kept, and the summary says which captures finished).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
import traceback
from pathlib import Path

from tqdm import tqdm

from viewsynth.capture.track import list_names
from viewsynth.errors import ViewsynthError, one_line
from viewsynth.interpolators import METHODS
from viewsynth.pipelines.cli import interrupted
from viewsynth.pipelines.options import Parser, add_frame_options, stop_on_sigterm, user_path
from viewsynth.walkthrough import (
    CaptureResult,
    FolderLock,
    RootProgress,
    check_not_theirs,
    check_output_dir,
    find_captures,
    find_strays,
    frames_in,
    named_warning,
    remove_if_empty,
    run_capture,
    settings_from,
    stray_results,
    unsaid,
    write_summary,
)

log = logging.getLogger("viewsynth")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="viewsynth interpolate", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "capture", type=user_path, help="capture folder, video file, or root of captures"
    )
    p.add_argument("-o", "--output", type=user_path, required=True, help="output folder")
    p.add_argument(
        "--method", choices=METHODS, help="interpolator (default: rnn, the best measured)"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--factor", type=int, help="N: N-1 new frames per pair (default 8; or --spacing)"
    )
    g.add_argument(
        "--spacing", type=float, help="metres between output frames (needs GPS; or --factor)"
    )
    p.add_argument("--fps", type=float, help="output frame rate (default 30)")
    p.add_argument(
        "--gpx",
        type=user_path,
        help="GPX track or NMEA log that geotags, by time, frames without GPS of their own",
    )
    p.add_argument(
        "--gpx-offset",
        type=float,
        metavar="SECONDS",
        help="seconds added to the capture's times before matching the GPX (camera clock error; "
        "replaces the offsets measured per camera from photos with GPS time)",
    )
    add_frame_options(p)
    p.add_argument("--frames", action="store_true", default=None, help="also write PNG frames")
    p.add_argument("--quality", type=int, help="H.264 CRF, 0 best .. 51 worst (default 18)")
    p.add_argument("--config", help="YAML file of settings (see configs/interpolate.yaml)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set view.hfov=90",
    )
    p.add_argument(
        "--runner",
        choices=("local", "ray"),
        default="local",
        help="local: one capture after another; ray: captures in parallel on Ray",
    )
    p.add_argument("--address", help="ray: cluster address (default: start a local instance)")
    p.add_argument("--workers", type=int, default=2, help="ray: number of workers")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, warnings only")
    return p


def _settings(args: argparse.Namespace):
    overrides = list(args.set)
    if args.projection is not None:
        overrides.append(f"capture.projection={args.projection}")
    if args.gpx is not None:
        overrides.append(f"capture.gpx={Path(args.gpx).resolve()}")
    if args.gpx_offset is not None:
        overrides.append(f"capture.gpx_offset={args.gpx_offset!r}")
    return settings_from(
        args.config,
        overrides,
        method=args.method,
        factor=args.factor,
        spacing=args.spacing,
        fps=args.fps,
        iters=args.iters,
        scale=args.scale,
        weights=args.weights,
        photos_weights=args.photos_weights,
        frames=args.frames,
        quality=args.quality,
    )


def frame_bar(label: str, quiet: bool) -> tqdm:
    """The bar of a capture's frames. Its rate and ETA are this run's average (``smoothing=0``),
    not tqdm's moving one: frames come in bursts (a pair's at once, the encoders' wait at each
    closed piece), and the moving rate swung from 5.8 to 11.8 frames/s on one run, its finish
    from 42 to 66 s."""
    return tqdm(desc=label, unit="frame", disable=True if quiet else None, leave=False, smoothing=0)


def run_local(captures, out: Path, settings, quiet: bool, progress: RootProgress) -> None:
    """Process captures one after another in this process, the interpolator loaded once; each
    one's start and result go to ``progress``."""
    single = len(captures) == 1 and captures[0][0] == ""
    interp = settings.make_interpolator()
    for index, (name, path) in enumerate(captures):
        target = out if single else out / name
        label = name or path.name
        bar = frame_bar(label, quiet)

        def loading(done, of, bar=bar, label=label):
            if bar.n == 0 and done <= 1:  # a video's frames decoded to read it: its own bar
                bar.set_description(f"{label}: reading", refresh=False)
                bar.reset(total=of)
            elif of != bar.total:  # (--spacing on a video: a first pass, then the frames kept)
                bar.total = of
            bar.update(done - bar.n)

        def total(n, done=0, bar=bar, label=label):
            bar.set_description(label, refresh=False)
            bar.reset(total=n)  # (after reading: the bar counts output frames from 0)
            if done:  # a resumed run's frames made before: counted, but not in the rate (ETA)
                bar.n = bar.last_print_n = bar.initial = done
                bar.refresh()

        early: list[str] = []  # the warnings said before the work: not again after it

        def said(warnings, bar=bar, label=label, path=path, early=early):
            bar.clear()
            for warning in warnings:
                _warn(warning, label, path)
            early.extend(warnings)
            bar.refresh()

        progress.start(index)
        try:
            result = run_capture(
                path, target, settings, interpolator=interp, progress=bar.update, total=total,
                loading=loading, said=said,
            )  # fmt: skip
        except Exception as err:  # one capture's failure must not stop the others (as on Ray)
            if single:
                raise
            if isinstance(err, ViewsynthError):  # unusable input: its own one line
                reason = str(err)
            else:  # a bug
                reason = f"internal error: {type(err).__name__}: {one_line(err)}"
                log.debug("%s: traceback:\n%s", label, traceback.format_exc())
            result = CaptureResult(label, "failed", reason=reason)
            log.error("%s: failed: %s", label, reason)
        finally:
            bar.close()
        for warning in unsaid(result.warnings, early):
            _warn(warning, label, path)
        progress.finish(index, result)


def _warn(warning: str, label: str, path: Path) -> None:
    """One of a capture's warnings, named by its capture unless it names it already."""
    log.warning("%s", named_warning(warning, label, path))


def warn_strays(root: Path, strays: list[tuple[str, str]]) -> None:
    """One warning line per reason, naming the root's entries it skips for that reason."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in strays:
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        log.warning("%s: skipped %s: %s", root, list_names(names), reason)


def report(results: list[CaptureResult], n_strays: int, seconds: float, out: Path) -> None:
    """The run's last line, also under -q (not a warning: no "WARNING:" before it)."""
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = sum(r.status == "failed" for r in results)
    n_frames = sum(r.frames for r in results if r.status == "done")
    kept = sum(r.kept for r in results if r.status == "done")  # an earlier run's: not this one's
    strays = f", {n_strays} not {'a capture' if n_strays == 1 else 'captures'}" if n_strays else ""
    retimed = sum(r.retimed for r in results)  # (their frames kept, their times changed)
    retimed_said = f" ({retimed} re-timed to another fps)" if retimed else ""
    print(
        f"viewsynth: {done} capture{'' if done == 1 else 's'} done{retimed_said}, {skipped} skipped (already "
        f"done), {failed} failed{strays}; {frames_in(n_frames, kept, seconds)} -> {out}",
        file=sys.stderr,
    )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s: %(message)s" if args.quiet else "%(message)s",
        stream=sys.stderr,
    )
    if args.workers < 1:
        raise ViewsynthError(f"--workers: must be at least 1, got {args.workers}")
    stop_on_sigterm()
    settings = _settings(args)
    captures = find_captures(args.capture, args.output)
    strays = find_strays(args.capture, args.output)
    warn_strays(args.capture, strays)
    made = check_output_dir(args.output)
    started = time.perf_counter()
    single = len(captures) == 1 and captures[0][0] == ""
    progress = RootProgress(captures, args.output)

    def summarize() -> float:
        seconds = time.perf_counter() - started
        write_summary(args.output, progress.results() + stray_results(strays), seconds)
        return seconds

    # A root's run holds OUT (its summary) while run_capture holds each OUT/<name>; a single
    # capture's OUT is run_capture's to hold, wherever it runs (here or in a Ray worker).
    try:
        with contextlib.nullcontext() if single else FolderLock(args.output):
            if not single:  # (its own summary.json: a single capture's is run_capture's to check)
                check_not_theirs(args.output, root=True)
            try:
                if args.runner == "ray":
                    from viewsynth.runners.ray_runner import run_ray

                    run_ray(
                        captures,
                        args.output,
                        settings,
                        address=args.address,
                        workers=args.workers,
                        progress=progress,
                    )
                else:
                    run_local(captures, args.output, settings, args.quiet, progress)
            except BaseException as err:  # Ctrl-C: the summary says what finished
                if interrupted(err):
                    summarize()
                raise
            seconds = summarize()
    except BaseException:  # (a capture or weights file refused: the folders made go again)
        remove_if_empty(made)
        raise
    results = progress.results()
    report(results, len(strays), seconds, args.output)
    return 1 if any(r.status == "failed" for r in results) else 0
