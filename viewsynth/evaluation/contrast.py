"""Where the default wins and where it loses against ``flow``: the block of a set where its gain
is largest, and the one where it is smallest, with crops.

A set's mean PSNR says how much the default gains; it does not say where. Every sample's frame is
cut into square blocks (a quarter of its shorter side, at least 16 pixels; panoramas only over
their middle half of rows, where street content sits and the sphere is least stretched). In each
block the gain is the PSNR of the ``subject`` over that of the ``reference``,
``10 log10((mse_ref + 1) / (mse_subject + 1))`` on the uint8 frames (the 1 grey level squared
keeps blocks both get right from counting as a contrast). Over the whole set, the block with the
largest gain is the **win** and the one with the smallest the **loss**; each keeps the crop of
the truth and of every method named in ``shown`` there. The report draws them as
``contrast_<set>.png`` and lists them in a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The methods compared (the default, by either of its labels, against the classical baseline),
#: and those shown beside the subject in the crops.
SUBJECTS, REFERENCE = ("rnn", "rnn-k1"), "flow"
SHOWN = ("flow", "sweep")
MIN_SIDE = 16


@dataclass
class Contrast:
    """One block: ``kind`` "win" | "loss", the sample, the block's corner ``(x, y)`` and side,
    the subject's gain over the reference in dB, and crops ("ground truth" and each shown
    method's label -> ``(side, side, 3)`` uint8; not kept in ``results.json``)."""

    kind: str
    sample: str
    x: int
    y: int
    side: int
    gain_db: float
    crops: dict[str, np.ndarray] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        keys = ("kind", "sample", "x", "y", "side")
        return {**{k: getattr(self, k) for k in keys}, "gain_db": round(self.gain_db, 3)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Contrast:
        return cls(**{k: data[k] for k in ("kind", "sample", "x", "y", "side", "gain_db")})


def block_side(height: int, width: int) -> int:
    """A block's side for frames of this size: a quarter of the shorter side, at least 16."""
    return max(MIN_SIDE, min(height, width) // 4)


def block_gains(
    subject: np.ndarray, reference: np.ndarray, truth: np.ndarray, *, equirect: bool
) -> tuple[np.ndarray, int, int, int]:
    """``(gains (rows, cols) in dB, side, first row, first column)`` of the block grid; the
    grid is centred in the frame (panoramas: in its middle half of rows). A frame or band
    shorter than :func:`block_side` gets one block as tall as it is."""
    height, width = truth.shape[:2]
    top, rows = (height // 4, height - 2 * (height // 4)) if equirect else (0, height)
    side = max(1, min(block_side(height, width), rows, width))
    ny, nx = rows // side, width // side
    y0, x0 = top + (rows - ny * side) // 2, (width - nx * side) // 2

    def mse(image: np.ndarray) -> np.ndarray:
        err = image[y0 : y0 + ny * side, x0 : x0 + nx * side].astype(np.float64)
        err -= truth[y0 : y0 + ny * side, x0 : x0 + nx * side]
        return (err * err).reshape(ny, side, nx, side, -1).mean(axis=(1, 3, 4))

    gains = 10.0 * np.log10((mse(reference) + 1.0) / (mse(subject) + 1.0))
    return gains, side, y0, x0


class ContrastFinder:
    """Keeps a set's win and loss as its samples go by (:meth:`add`); :meth:`found` gives them."""

    def __init__(self, subjects=SUBJECTS, reference: str = REFERENCE, shown=SHOWN):
        self.subjects, self.reference, self.shown = tuple(subjects), reference, tuple(shown)
        self._best: dict[str, Contrast] = {}

    def add(
        self, sample: str, preds: Mapping[str, np.ndarray], truth: np.ndarray, *, equirect: bool
    ) -> None:
        """One sample's uint8 frames by method label; ignored unless both compared are there."""
        subject = next((k for k in self.subjects if k in preds), None)
        if subject is None or self.reference not in preds:
            return
        gains, side, y0, x0 = block_gains(
            preds[subject], preds[self.reference], truth, equirect=equirect
        )
        for kind, pick, better in (
            ("win", np.argmax, lambda new, old: new > old),
            ("loss", np.argmin, lambda new, old: new < old),
        ):
            by, bx = np.unravel_index(int(pick(gains)), gains.shape)
            gain = float(gains[by, bx])
            old = self._best.get(kind)
            if old is not None and not better(gain, old.gain_db):
                continue
            y, x = y0 + int(by) * side, x0 + int(bx) * side
            cut = (slice(y, y + side), slice(x, x + side))
            crops = {"ground truth": np.ascontiguousarray(truth[cut])}
            shown = [k for k in (*self.shown, subject) if k in preds]
            crops.update({k: np.ascontiguousarray(preds[k][cut]) for k in shown})
            self._best[kind] = Contrast(kind, sample, x, y, side, gain, crops)

    def found(self, dropped=()) -> list[Contrast]:
        """The win, then the loss (none before a sample had both methods, nor when a method
        compared is in ``dropped``: its scores left the set)."""
        if self.reference in dropped or any(k in dropped for k in self.subjects):
            return []
        return [self._best[k] for k in ("win", "loss") if k in self._best]


def contrast_table(sets: Sequence[Any]) -> str:
    """Markdown: per set with contrasts, the default's largest and smallest block gain over
    ``flow`` and the samples they are in."""
    lines = [
        "| set | largest gain (dB) | in | largest loss (dB) | in |",
        "|---|---:|---|---:|---|",
    ]
    for s in sets:
        found = {c.kind: c for c in s.contrasts}
        if "win" in found and "loss" in found:
            win, loss = found["win"], found["loss"]
            lines.append(
                f"| {s.name} | {win.gain_db:+.2f} | {win.sample} | {loss.gain_db:+.2f} | "
                f"{loss.sample} |"
            )
    return "\n".join(lines) if len(lines) > 2 else ""
