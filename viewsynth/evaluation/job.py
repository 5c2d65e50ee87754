"""The job itself: ``viewsynth interpolate`` timed per output frame, each method beside ``linear``.

The per-call figures of ``speed`` leave out what a user waits for around the interpolator
(reading and scheduling the capture, the pose, encoding both MP4s). Here the real job runs in a
fresh interpreter per (capture, method), at ``--factor`` F, and its wall time is divided by the
frames it wrote. The ``baseline`` run (``--method linear``: a cross-fade, so nearly all of it is
the pipeline) is subtracted: ``(method's seconds - baseline's seconds) / output frames`` is what
the method adds per output frame, as issue 34 measured it. That difference hides a method behind
the encoders where they are the slower half (at 2048x1024 `flow` added 0.04 s a frame over
``linear``'s 0.39), so each row also gives the job's own account, ``summary.json``'s
``interpolate_seconds`` (the wall time inside the interpolator's calls) per output frame. Each run
writes into a new folder (the job skips a capture whose outputs are already there).

Captures come from the config (``JobCapture``): a folder used as is, or its first ``limit``
images, brought to ``width`` (area-averaged, aspect kept) in a work folder. ``run_interpolate`` is
also what ``benchmarks/pipeline.py`` times.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewsynth.errors import ConfigError, ViewsynthError
from viewsynth.evaluation.progress import Progress
from viewsynth.frames import IMAGE_SUFFIXES, natural_key, read_image, resize, write_image
from viewsynth.interpolators import METHODS

Log = Callable[[str], None]


@dataclass(frozen=True)
class JobCapture:
    """One capture the job is timed on."""

    # Label in the report; empty: the folder's name.
    name: str = ""
    # A folder of images; relative paths are relative to the config file.
    path: str = ""
    # Bring every image to this width, area-averaged, aspect kept (0: as stored).
    width: int = 0
    # Only the first this many images in name order (0: all).
    limit: int = 0
    # The methods timed on it, each beside the baseline (empty: the config's ``methods``).
    methods: tuple[str, ...] = ()
    # Run the baseline on it too (false: a capture kept for a method's own account, such as its
    # peak memory, gets no over-baseline figure and saves the baseline's run).
    baseline: bool = True


@dataclass(frozen=True)
class JobConfig:
    """What the job timing runs."""

    # Time the job at all (false: skip the section).
    enabled: bool = True
    # Methods timed (``viewsynth interpolate --method``), each beside the baseline.
    methods: tuple[str, ...] = ("rnn", "flow", "sweep")
    # The run subtracted from each method's (the pipeline without an interpolator to speak of).
    baseline: str = "linear"
    # ``--factor``: factor - 1 new frames per pair.
    factor: int = 8
    # The captures; none: nothing is timed.
    captures: tuple[JobCapture, ...] = ()

    def __post_init__(self):
        if self.factor < 1:
            raise ValueError(f"job.factor must be at least 1, got {self.factor}")


def run_interpolate(capture: Path, out: Path, method: str, factor: int) -> dict[str, Any]:
    """``viewsynth interpolate CAPTURE -o OUT --method M --factor F -q`` in a fresh interpreter.

    Returns its wall ``seconds`` (process start and imports included: the user waits for them),
    the output ``frames`` it wrote, ``interpolate_seconds`` (its summary's) and ``peak_mib``, the
    job's peak resident memory (a wrapper interpreter reads ``RUSAGE_CHILDREN`` after it, so the peak belongs to this one run; ffmpeg
    encoders are separate, smaller children). Raises ``ViewsynthError`` if the job fails.
    """
    job = ["-m", "viewsynth.pipelines.cli", "interpolate", str(capture), "-o", str(out)]
    job += ["--method", method, "--factor", str(factor), "-q"]
    code = (
        "import resource, subprocess, sys, time;"
        f"t = time.perf_counter(); r = subprocess.run([sys.executable, *{job!r}]);"
        "print(r.returncode, time.perf_counter() - t,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    fields = proc.stdout.split()[-3:]
    if proc.returncode != 0 or len(fields) != 3 or fields[0] != "0":
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise ViewsynthError(f"viewsynth interpolate {capture} --method {method} failed: {last}")
    summary = json.loads((out / "summary.json").read_text())
    frames = sum(int(c.get("frames") or 0) for c in summary["captures"])
    inside = sum(float(c.get("interpolate_seconds") or 0.0) for c in summary["captures"])
    return {
        "seconds": float(fields[1]),
        "frames": frames,
        "peak_mib": int(fields[2]) / 1024.0,
        "interpolate_seconds": inside,
    }


def images_of(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, in natural name order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def prepare_capture(spec: JobCapture, base_dir: Path, work: Path) -> tuple[Path, int, tuple]:
    """``(folder, images, (width, height))`` of the capture ``spec`` names: the folder itself, or a
    copy in ``work`` of its first ``limit`` images at ``width`` (links where not resized, so tags
    such as GPS stay). Raises ``FileNotFoundError`` when the folder is absent."""
    path = Path(spec.path) if Path(spec.path).is_absolute() else base_dir / spec.path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder")
    files = images_of(path)[: spec.limit or None]
    if len(files) < 2:
        raise ViewsynthError(f"{path}: the job needs at least 2 images, found {len(files)}")
    first = read_image(files[0]).image
    h, w = first.shape[:2]
    size = (spec.width, round(h * spec.width / w)) if spec.width else (w, h)
    if not spec.width and not spec.limit:
        return path, len(files), size
    folder = work / re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name or path.name)
    folder.mkdir(parents=True)
    for f in files:
        if spec.width:
            write_image(folder / f"{f.stem}.png", resize(read_image(f).image, *size))
        else:
            os.symlink(f.resolve(), folder / f.name)
    return folder, len(files), size


def time_job(
    cfg: JobConfig, base_dir: str | Path = ".", log: Log | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows ``{capture, width, height, images, method, seconds, frames, peak_mib,
    interpolate_seconds, seconds_per_frame, interpolate_per_frame, over_baseline_per_frame}`` per
    capture and method (the baseline's too),
    and notes (captures absent here, failed runs)."""
    log = log or (lambda _msg: None)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    if not cfg.enabled or not cfg.captures:
        return rows, notes
    methods_of = [
        [cfg.baseline] * spec.baseline
        + [m for m in (spec.methods or cfg.methods) if m != cfg.baseline]
        for spec in cfg.captures
    ]
    for spec, methods in zip(cfg.captures, methods_of, strict=True):
        if unknown := [m for m in methods if m not in METHODS]:
            raise ConfigError(
                f"job: capture {spec.name or spec.path!r}: unknown method {unknown[0]!r} "
                f"(viewsynth interpolate --method takes {', '.join(METHODS)})"
            )
    progress = Progress("job", sum(map(len, methods_of)), len(cfg.captures), log)
    with tempfile.TemporaryDirectory(prefix="viewsynth-job-") as tmp:
        work = Path(tmp)
        for k, (spec, methods) in enumerate(zip(cfg.captures, methods_of, strict=True)):
            label = spec.name or Path(spec.path).name
            progress.start_part(label, len(methods), len(methods))
            try:
                folder, images, (width, height) = prepare_capture(spec, Path(base_dir), work)
            except FileNotFoundError as err:
                notes.append(f"job: {label} skipped ({err})")
                progress.end_part()
                continue
            base: dict[str, Any] | None = None
            for method in methods:
                out = work / f"out_{k}_{method}"
                try:
                    run = run_interpolate(folder, out, method, cfg.factor)
                except ViewsynthError as err:
                    notes.append(f"job: {label}: {err}")
                    progress.step(f"{method} failed")
                    continue
                row = {"capture": label, "width": width, "height": height, "images": images}
                row |= {"method": method, "factor": cfg.factor, **run}
                row["seconds_per_frame"] = run["seconds"] / max(1, run["frames"])
                row["interpolate_per_frame"] = run["interpolate_seconds"] / max(1, run["frames"])
                if method == cfg.baseline:
                    base = row
                elif base is not None and base["frames"] == run["frames"]:
                    row["over_baseline_per_frame"] = over_baseline(
                        run["seconds"], base["seconds"], run["frames"]
                    )
                rows.append(row)
                progress.step(f"{method}: {run['seconds']:.1f} s, {run['frames']} frames")
            progress.end_part()
    return rows, notes


def over_baseline(seconds: float, baseline: float, frames: int) -> float:
    """What a method adds per output frame: ``(seconds - baseline) / frames``."""
    return (seconds - baseline) / max(1, frames)


def job_table(rows: Sequence[dict[str, Any]], baseline: str = "linear") -> str:
    """One row per capture and method: the job's seconds per output frame, over the baseline, and
    inside the interpolator's calls."""
    head = [
        "capture", "size", "images -> frames", "method", "job s/frame",
        f"s/frame over {baseline}", "interpolator s/frame", "wall s", "peak RSS MiB",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---|" + "---:|" * 5]
    for r in rows:
        over = r.get("over_baseline_per_frame")
        inside = r.get("interpolate_per_frame")  # (none in runs from before it was recorded)
        cells = [
            r["capture"], f"{r['width']}x{r['height']}", f"{r['images']} -> {r['frames']}",
            r["method"], f"{r['seconds_per_frame']:.3f}",
            "–" if over is None else f"{over:.3f}",
            "–" if inside is None else f"{inside:.3f}",
            f"{r['seconds']:.1f}", f"{r['peak_mib']:.0f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
