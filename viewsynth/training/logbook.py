"""A run's log book: ``metrics.jsonl`` (one JSON object a line) and the ``loss.png`` drawn from it.

Records carry ``kind`` and ``step`` (the count of finished steps):

- ``"train"``: ``loss``, ``loss_iters`` (per recurrent iteration), ``grad_norm``,
  ``skipped_updates``, ``lr``, ``equirect``, ``sec_per_step``, ``wall_time_s``; with the
  visibility loss on, ``vis`` (its term);
- ``"val"``: ``<set>_<metric>_model`` and ``<set>_<metric>_flow`` (e.g. ``pano_wspsnr_model``)
  and ``gain_db``.

The file is only appended to, so a resumed run continues it; a half-written last line (a run
killed mid-write) is skipped when read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from viewsynth import frames


def append_metrics(path: str | Path, record: dict[str, Any]) -> None:
    """Add ``record`` as one line of the ``metrics.jsonl`` at ``path``."""
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a half-written last line is skipped)."""
    out = []
    path = Path(path)
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def plot_curves(metrics_path: str | Path, png_path: str | Path) -> None:
    """Training loss (log scale) and validation PSNR of model vs flow, as a PNG (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    fig = Figure(figsize=(11, 4))
    FigureCanvasAgg(fig)  # the object-oriented API: no pyplot, no global backend state
    axes = fig.subplots(1, 2)
    if train:
        steps = np.array([r["step"] for r in train])
        values = np.array([r["loss"] for r in train])
        axes[0].plot(steps, values, lw=0.6, alpha=0.4, label="logged")
        # Batches alternate panoramas and crops: a running mean shows the trend through the noise.
        k = min(len(values), 10)
        smooth = np.convolve(values, np.ones(k) / k, mode="valid")
        axes[0].plot(steps[k - 1 :], smooth, lw=1.5, label=f"mean of {k}")
        axes[0].set_yscale("log")
        axes[0].legend(fontsize=7)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("training loss")
    keys = sorted({k for r in val for k in r if k.endswith("_model") or k.endswith("_flow")})
    for k in keys:
        axes[1].plot(
            [r["step"] for r in val if k in r],
            [r[k] for r in val if k in r],
            ls="--" if k.endswith("_flow") else "-",
            label=k,
        )
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("validation dB")
    if keys:
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    with frames.atomic_write(png_path) as tmp:
        fig.savefig(tmp, dpi=90)
