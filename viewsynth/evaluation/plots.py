"""The plots of a benchmark or evaluation run (``report.write_report`` puts them in its folder).

- ``plot_quality_speed``: per set, PSNR (WS-PSNR for panoramas) against seconds per frame;
- ``plot_per_sample``: per set, PSNR of every sample for every method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from viewsynth.evaluation.evaluate import SetResult
from viewsynth.frames import atomic_write


def _figure(width: float, height: float):
    # The object API, not pyplot: no global figure state, no display backend.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plot_quality_speed(sets: Sequence[SetResult], path: Path) -> None:
    """Per set, mean PSNR (WS-PSNR for panoramas) against median seconds per frame, log x."""
    sets = [s for s in sets if s.summary()]
    if not sets:
        return
    cols = min(3, len(sets))
    rows = math.ceil(len(sets) / cols)
    fig = _figure(4.2 * cols, 3.4 * rows + 0.5)
    labels = list(dict.fromkeys(label for s in sets for label in s.summary()))
    # One colour and marker per method across all panels, named once in a shared legend.
    colours = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    markers = {label: "osD^vP*X"[i % 8] for i, label in enumerate(labels)}
    handles = {}
    for i, s in enumerate(sets):
        ax = fig.add_subplot(rows, cols, i + 1)
        metric = "ws_psnr" if s.equirect else "psnr"
        for label, v in s.summary().items():
            handles[label] = ax.scatter(
                [max(v["seconds"], 1e-4)],
                [v.get(metric, math.nan)],
                s=36,
                c=colours[label],
                marker=markers[label],
                label=label,
            )
        ax.set_xscale("log")
        ax.set_xlabel("seconds per frame (median)")
        ax.set_ylabel(f"{'WS-PSNR' if s.equirect else 'PSNR'} (dB)")
        ax.set_title(s.name, fontsize=9)
        ax.grid(True, alpha=0.3)
    fig.legend(
        [handles[label] for label in labels],
        labels,
        loc="outside lower center",
        ncols=min(8, len(labels)),
    )
    with atomic_write(path) as tmp:
        fig.savefig(tmp)


def plot_per_sample(result: SetResult, path: Path, max_samples: int = 60) -> None:
    """Grouped bars: PSNR of each sample (up to ``max_samples``) for each method."""
    labels = [label for label, rows in result.scores.items() if rows]
    if not labels:
        return
    names = result.samples[:max_samples]
    n = len(names)
    fig = _figure(max(6.0, 0.35 * n * max(1, len(labels)) / 2 + 2), 3.6)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(labels)
    x = np.arange(n)
    for j, label in enumerate(labels):
        values = [
            r["psnr"] if math.isfinite(r["psnr"]) else np.nan for r in result.scores[label][:n]
        ]
        ax.bar(x[: len(values)] + (j - (len(labels) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("PSNR (dB)")
    finite = [
        r["psnr"] for lab in labels for r in result.scores[lab][:n] if math.isfinite(r["psnr"])
    ]
    if finite:
        ax.set_ylim(max(0.0, min(finite) - 3), max(finite) + 1)
    title = result.name if n == len(result.samples) else f"{result.name} (first {n} samples)"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncols=min(4, len(labels)))
    with atomic_write(path) as tmp:
        fig.savefig(tmp)
