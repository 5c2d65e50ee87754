"""The report of an evaluation or benchmark run, one folder per run.

``write_report`` writes into the run's folder:
- ``results.json``: everything measured (per-sample scores, summaries, speed rows, notes, the
  commit, the machine, the resolved settings);
- ``table.md``: the markdown tables (quality per set and method, the walkthrough's pulse and step
  ratio per method, speed per method and size, the job);
- ``quality_vs_speed.png``, ``per_sample_<set>.png``: the plots (``plots``);
- ``montage_<set>.png``: crops of the first sample side by side (ground truth, then each method):
  across the seam for panoramas (the seam is the middle of the crop, marked by ticks), the centre
  otherwise;
- ``contrast_<set>.png``: where the default gains most over ``flow`` and where it loses most
  (``contrast``): the truth, ``flow``, ``sweep`` and the default in that block.
``update_section`` regenerates the text between the benchmark markers of a document
(``docs/BENCHMARK.md`` for ``make benchmark``). Files are written aside and renamed into place
(``frames.atomic_write``), so no half-written report sits at its path.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.contrast import contrast_table
from viewsynth.evaluation.evaluate import METRICS, SetResult
from viewsynth.evaluation.job import job_table
from viewsynth.evaluation.plots import plot_per_sample, plot_quality_speed
from viewsynth.evaluation.walk import walk_section
from viewsynth.frames import write_image, write_text

SECTION_START = "<!-- benchmark:start -->"
SECTION_END = "<!-- benchmark:end -->"
#: Figures published by the authors (their training data and GPUs), shown for orientation only.
ANCHORS = (
    "Published for orientation (their own training data and GPUs, not measured here): "
    "RIFE Middlebury IE 1.956, Vimeo90K 35.61 dB; EMA-VFI IE 1.81, 36.64 dB."
)
#: Every metric is better higher but IE (a mean absolute error) and the detail ratio (best at 1:
#: below is softer than the truth, above holds detail the truth has not, such as noise).
HIGHER_IS_BETTER = {m: m not in ("ie", "detail") for m in METRICS}
HEADERS = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    "ie": "IE",
    "ws_psnr": "WS-PSNR",
    "rc_ws_psnr": "rc-WS-PSNR",
    "trc_ws_psnr": "trc-WS-PSNR",
    "seam_ws_psnr": "seam WS-PSNR",
    "detail": "detail",
}


def _best(metric: str, values: Sequence[float]) -> float:
    """The best of a set's values: the highest, the lowest IE, the detail ratio nearest 1."""
    if metric == "detail":
        return min(values, key=lambda v: abs(v - 1.0))
    return max(values) if HIGHER_IS_BETTER[metric] else min(values)


def git_commit(repo: str | Path) -> str:
    """``git rev-parse --short HEAD`` in ``repo``, or ``unknown`` outside a git checkout."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "unknown"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or what ``platform`` knows elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def run_info(repo: str | Path, command: str) -> dict[str, Any]:
    """The facts a table must name: commit, machine, time, load, the command that made it."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "commit": git_commit(repo),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "started": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_start": load,
        "command": command,
    }


def _fmt(metric: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "inf"
    if metric in ("ssim", "detail"):
        return f"{value:.4f}" if metric == "ssim" else f"{value:.3f}"
    return f"{value:.2f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 0.001:
        return "<0.001"
    if value < 1:
        return f"{value:.4f}" if value < 0.01 else f"{value:.3f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def quality_table(sets: Sequence[SetResult]) -> str:
    """One row per set and method: mean metrics, the best of each set in bold."""
    show_pano = any(s.equirect for s in sets)
    # Columns only some runs have: the time-fitted score, and the detail ratio (runs before it).
    has = {
        m for s in sets for v in s.summary().values() for m in ("trc_ws_psnr", "detail") if m in v
    }
    metrics = [
        m
        for m in METRICS
        if (show_pano or m in ("psnr", "ssim", "ie", "detail"))
        and (m in has or m not in ("trc_ws_psnr", "detail"))
    ]
    head = ["set", "n", "method"] + [HEADERS[m] for m in metrics] + ["s/frame"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---:", "---"] + ["---:"] * (len(metrics) + 1)) + "|",
    ]
    for s in sets:
        summary = s.summary()
        best = {}
        for m in metrics:
            values = [v[m] for v in summary.values() if m in v]
            if values:
                best[m] = _best(m, values)
        for label, v in summary.items():
            cells = [s.name, str(v["count"]), label]
            for m in metrics:
                text = _fmt(m, v.get(m))
                if m in v and len(summary) > 1 and v[m] == best.get(m):
                    text = f"**{text}**"
                cells.append(text)
            # (no call but a size's first: its compile is in it, said rather than passed as speed)
            cells.append(
                _seconds(v["seconds"]) + (" (1st call)" if v.get("first_calls_only") else "")
            )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_table(rows: Sequence[dict[str, Any]]) -> str:
    """One row per method and size: median s/frame with one t per call (and with
    ``times_per_call`` t per call where measured), first call, compile, load, peak memory."""
    many = sorted({r["times_per_call"] for r in rows if r.get("times_per_call")})
    head = ["method", "size", "s/frame"] + [f"s/frame ({n} t per call)" for n in many]
    head += ["reps", "first call s", "compile s", "load s", "peak RSS MiB"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in sorted(rows, key=lambda r: (r["width"] * r["height"], r["method"])):
        cells = [r["method"], f"{r['width']}x{r['height']}", _seconds(r["seconds_per_frame"])]
        cells += [
            _seconds(r.get("many_seconds_per_frame") if r.get("times_per_call") == n else None)
            for n in many
        ]
        cells += [
            str(len(r["reps_s"])), _seconds(r.get("first_call_s")), _seconds(r.get("compile_s")),
            _seconds(r.get("load_s")), f"{r.get('peak_rss_mib', float('nan')):.0f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(
    info: dict[str, Any],
    sets: Sequence[SetResult],
    speed_rows: Sequence[dict[str, Any]] = (),
    notes: Sequence[str] = (),
    title: str | None = "Benchmark",
    level: int = 1,
    more: str = "",
    job_rows: Sequence[dict[str, Any]] = (),
    walk_rows: Sequence[dict[str, Any]] = (),
) -> str:
    """The report as markdown: who/where/when, the quality table, the walkthrough's pulse and
    step ratio (``walk``), the speed table, the job's time per output frame (``job``), notes.

    ``title`` is a heading of ``level``; ``more`` a line added after the command (e.g. where the
    plots are).
    """
    out = []
    if title:
        out += [f"{'#' * level} {title}", ""]
    load = ", ".join(f"{x:.2f}" for x in info.get("load_at_start", []))
    out.append(
        f"Commit `{info['commit']}` on {info['cpu']}, {info['cores']} cores ({info['platform']}, "
        f"Python {info['python']}), {info['started']}"
        + (f", load average at start {load}" if load else "")
        + (f", run time {info['wall_s'] / 60:.1f} min" if info.get("wall_s") else "")
        + "."
    )
    out += ["", f"Reproduce: `{info['command']}`" + (f". {more}" if more else ""), ""]
    if sets:
        out += [
            "**Quality** (mean over the set's frames; metrics on the uint8 result; SSIM: 11x11 "
            "Gaussian window, RGB channels averaged; IE: mean absolute error in grey levels, lower "
            "is better; WS-PSNR weights rows by cos(latitude); rc-WS-PSNR: WS-PSNR after the output's "
            "best global rotation of the sphere against the truth (at most 5 degrees in yaw, pitch "
            "and roll; every method alike); seam WS-PSNR: the W/8 columns "
            "nearest the 360 seam; detail: the output's detail over the truth's (mean squared "
            "Sobel gradient of the grey image at 512 wide, cos(latitude)-weighted on panoramas; "
            "1.0 as sharp as the truth, below 1 softer; best: nearest 1); s/frame: median in this "
            "run, each method's first call at an image size (its compile) left out; best of each "
            "set in bold)",
            "",
            quality_table(sets),
            "",
        ]
        contrasts = contrast_table(sets)
        if contrasts:
            out += [
                "**Where the default wins and loses against `flow`** (the block, a quarter of "
                "the frame's shorter side, where its PSNR gain over `flow` is largest and "
                "smallest over the set; crops in `contrast_<set>.png`)",
                "",
                contrasts,
                "",
            ]
    out += walk_section(walk_rows)
    if speed_rows:
        out += [
            "**Speed** (seconds per in-between frame after warm-up, median, methods alternated "
            "round-robin; s/frame: one t per call; with n t per call: one call for n times of the "
            "pair, as the walkthrough asks (factor n + 1), divided by n; first call includes "
            "compilation; load: building the method; peak RSS: "
            "VmHWM of the process measuring it, interpreter and imports included, the n-t calls' "
            "frames too where they ran, plus ffmpeg's "
            "own for minterpolate; synthetic panorama input)",
            "",
            speed_table(speed_rows),
            "",
        ]
    if job_rows:
        out += [
            f"**The job** (`viewsynth interpolate --factor {job_rows[0]['factor']}` in a fresh "
            "process per run, both MP4s; job s/frame: its wall time over the frames it wrote; "
            "over linear: less the `--method linear` run of the same capture, per frame)",
            "",
            job_table(job_rows),
            "",
        ]
    all_notes = list(notes) + [f"{s.name}: {n}" for s in sets for n in s.notes]
    if all_notes:
        out += ["Notes:", ""] + [f"- {n}" for n in all_notes] + [""]
    out += [ANCHORS, ""]
    return "\n".join(out)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "set"


def _row(crops: dict[str, np.ndarray], seam: bool) -> np.ndarray:
    """Crops side by side under their labels, enlarged up to 4x to about 192 rows; ``seam``:
    ticks above each crop mark the seam down its middle."""
    first = next(iter(crops.values()))
    scale = max(1, min(4, 192 // max(1, first.shape[0])))
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1
    panels = []
    for label, crop in crops.items():
        big = np.repeat(np.repeat(crop, scale, axis=0), scale, axis=1)
        (tw, th), _ = cv2.getTextSize(label, font, size, thick)
        width = max(big.shape[1], tw + 8)
        panel = np.full((big.shape[0] + 22, width, 3), 255, np.uint8)
        cv2.putText(panel, label, (4, 15), font, size, (0, 0, 0), thick, cv2.LINE_AA)
        x0 = (width - big.shape[1]) // 2
        panel[22:, x0 : x0 + big.shape[1]] = big
        if seam:
            mid = x0 + big.shape[1] // 2
            panel[17:22, max(0, mid - 1) : mid + 1] = (220, 0, 0)
        panels.append(panel)
    height = max(p.shape[0] for p in panels)
    gap = np.full((height, 6, 3), 255, np.uint8)
    row = []
    for p in panels:
        pad = np.full((height - p.shape[0], p.shape[1], 3), 255, np.uint8)
        row += [np.concatenate([p, pad], axis=0), gap]
    return np.concatenate(row[:-1], axis=1)


def montage(result: SetResult) -> np.ndarray | None:
    """The crops of ``result`` side by side under their labels, ``(h, w, 3)`` uint8; ``None`` if
    none. Panorama crops run across the seam, which ticks mark."""
    return _row(result.crops, result.equirect) if result.crops else None


def contrast_montage(result: SetResult) -> np.ndarray | None:
    """The win above the loss (``contrast``), each row titled with its gain and place."""
    rows = []
    for c in result.contrasts:
        if not c.crops:
            continue
        row = _row(c.crops, False)
        title = np.full((24, row.shape[1], 3), 255, np.uint8)
        text = f"{c.kind}: default {c.gain_db:+.2f} dB over flow, {c.sample} at x {c.x}, y {c.y}"
        cv2.putText(title, text, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([title, row], axis=0))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_report(
    out_dir: str | Path,
    info: dict[str, Any],
    sets: Sequence[SetResult],
    speed_rows: Sequence[dict[str, Any]] = (),
    notes: Sequence[str] = (),
    settings: dict[str, Any] | None = None,
    title: str = "Benchmark",
    job_rows: Sequence[dict[str, Any]] = (),
    walk_rows: Sequence[dict[str, Any]] = (),
) -> str:
    """Write the run folder (see the module docstring); returns the markdown of ``table.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "schema": 1,
        "info": info,
        "settings": settings or {},
        "sets": [s.to_json() for s in sets],
        "speed": list(speed_rows),
        "job": list(job_rows),
        "walk": list(walk_rows),
        "notes": list(notes),
    }
    write_text(out / "results.json", json.dumps(data, indent=1, default=_json_default) + "\n")
    table = render_markdown(
        info, sets, speed_rows, notes, title=title, job_rows=job_rows, walk_rows=walk_rows
    )
    write_text(out / "table.md", table)
    plot_quality_speed(sets, out / "quality_vs_speed.png")
    for s in sets:
        plot_per_sample(s, out / f"per_sample_{_slug(s.name)}.png")
        for prefix, image in (("montage", montage(s)), ("contrast", contrast_montage(s))):
            if image is not None:
                write_image(out / f"{prefix}_{_slug(s.name)}.png", image)
    return table


def update_section(document: str | Path, body: str) -> None:
    """Replace the text between the benchmark markers of ``document`` by ``body``.

    Without the markers (or without the file), they are appended with ``body`` between them; the
    rest of the document is left exactly as it was.
    """
    path = Path(document)
    text = path.read_text() if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = f"{SECTION_START}\n{body.strip()}\n{SECTION_END}"
    start, end = text.find(SECTION_START), text.find(SECTION_END)
    if (start == -1) != (end == -1) or end < start:
        raise ViewsynthError(
            f"{path}: the benchmark markers are incomplete or out of order; keep both "
            f"{SECTION_START} and {SECTION_END} (in that order) or neither"
        )
    if start != -1:
        text = text[:start] + block + text[end + len(SECTION_END) :]
    else:
        text = (
            text
            + ("" if not text or text.endswith("\n") else "\n")
            + ("\n" if text else "")
            + block
            + "\n"
        )
    write_text(path, text)
