"""The walkthrough's pulse and step ratio on a real walk, for every method (issue 33).

The frames of a walkthrough are made as ``viewsynth interpolate`` makes them, in this process:
the capture is loaded and aligned (``viewsynth.capture``: order, yaw), each pair's in-between
times come from its schedule at ``--factor`` F (t = 1/F .. (F-1)/F), and the method is called
once per pair for all of them. The walk is the photos and their in-between frames in playing
order, each rounded to uint8 as the video gets it; ``detail.walk_measures`` gives its pulse (the
mid-pair frame's detail against its two photos'), its step ratio (the steps next to a photo
against those between in-between frames) and its motion step ratio (the same of the frames
low-passed: whether the motion, not the detail, jumps at the photos). Only ``pairs`` consecutive
pairs from ``start`` run, to keep the section short. External commands that take a time per line
(``{list_t}``) get the same pairs written as PNG; a ``{list}`` command (midpoints only) cannot
make a walk and is skipped.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import numpy as np

from viewsynth.capture import CaptureOptions, iter_frames, load_capture, pair_hfov
from viewsynth.capture.schedule import schedule_segment
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.detail import walk_measures
from viewsynth.evaluation.peers import ExternalCommand, MethodSpec
from viewsynth.frames import to_uint8, write_image

Log = Callable[[str], None]


@dataclass(frozen=True)
class WalkConfig:
    """What the walkthrough section runs."""

    # Measure the walk at all (false: skip the section).
    enabled: bool = True
    # The capture (a folder of photos); relative paths are relative to the config file; empty:
    # nothing is measured.
    capture: str = ""
    # Methods (names as in the benchmark's ``methods``); empty: the benchmark's methods. rnn runs
    # at the model's default K, what users get.
    methods: tuple[str, ...] = ()
    # Also the benchmark's external commands that take a time per line ({list_t}).
    external: bool = False
    # Consecutive pairs of the capture's first segment measured, from pair ``start`` (0 = first).
    pairs: int = 6
    start: int = 0
    # ``--factor``: factor - 1 in-between frames per pair.
    factor: int = 8

    def __post_init__(self):
        if self.pairs < 1 or self.start < 0 or self.factor < 2:
            raise ValueError(
                f"walk: pairs >= 1, start >= 0 and factor >= 2 (a frame between photos), got "
                f"{self.pairs}, {self.start}, {self.factor}"
            )


def _walk_inputs(path: Path, cfg: WalkConfig) -> tuple[list, list[tuple[float, ...]], bool, str]:
    """The ``pairs + 1`` aligned photos ``[(shot, image)]``, each pair's in-between times,
    whether they are panoramas, and the frames' size as text."""
    capture = load_capture(path, CaptureOptions())
    segment = capture.segments[0]
    if cfg.pairs < 1 or cfg.start < 0 or cfg.start + cfg.pairs > len(segment) - 1:
        raise ViewsynthError(
            f"walk: pairs {cfg.start}..{cfg.start + cfg.pairs - 1} asked of {path}, whose first "
            f"segment has {len(segment) - 1} pairs (set walk.start and walk.pairs within it)"
        )
    schedule, _ = schedule_segment(segment, factor=cfg.factor)
    shots = list(islice(iter_frames(capture, segment), cfg.start, cfg.start + cfg.pairs + 1))
    times = [tuple(t for t in p.times if 0.0 < t < 1.0) for p in schedule]
    times = times[cfg.start : cfg.start + cfg.pairs]
    width, height = capture.working_size
    return shots, times, capture.equirect, f"{width}x{height}"


def _walk(photos: Sequence[np.ndarray], mids: Sequence[Sequence[np.ndarray]]):
    """Frames in playing order (uint8) and the photos' positions among them."""
    frames, positions = [], []
    for photo, between in zip(photos, [*mids, []], strict=True):
        positions.append(len(frames))
        frames.append(to_uint8(photo))
        frames += [to_uint8(m) for m in between]
    return frames, positions


def measure_walk(
    cfg: WalkConfig,
    methods: Sequence[MethodSpec],
    base_dir: str | Path = ".",
    externals: Sequence[ExternalCommand] = (),
    log: Log | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Pulse and step ratio of each method's walk; returns one row per method and notes.

    A row: ``method``, ``pulse``, ``step_ratio``, ``motion_step_ratio``, ``pair_pulses``,
    ``edge_step``, ``inner_step``, ``seconds_per_frame`` (the calls' wall time over the
    in-between frames, loading and the first call's compile included), ``capture``, ``size``,
    ``start``, ``pairs``, ``factor``.
    """
    log = log or (lambda _msg: None)
    path = Path(cfg.capture)
    path = path if path.is_absolute() else Path(base_dir) / path
    shots, times, equirect, size = _walk_inputs(path, cfg)
    photos = [image for _, image in shots]
    n_frames = sum(len(t) for t in times)
    common = {
        "capture": path.name, "size": size, "start": cfg.start, "pairs": cfg.pairs,
        "factor": cfg.factor,
    }  # fmt: skip

    def row(label: str, mids, seconds: float) -> dict[str, Any]:
        frames, positions = _walk(photos, mids)
        m = walk_measures(frames, positions, equirect=equirect)
        log(
            f"walk {label}: pulse {m.pulse:.3f}, step ratio {m.step_ratio:.3f}, motion step "
            f"ratio {m.motion_step_ratio:.3f}"
        )
        return {
            "method": label, "pulse": m.pulse, "step_ratio": m.step_ratio,
            "motion_step_ratio": m.motion_step_ratio,
            "pair_pulses": list(m.pair_pulses), "edge_step": m.edge_step,
            "inner_step": m.inner_step, "seconds_per_frame": seconds / max(1, n_frames), **common,
        }  # fmt: skip

    rows, notes = [], []
    for spec in methods:
        log(f"walk: {spec.label} on {cfg.pairs} pairs of {path.name} at --factor {cfg.factor}")
        start = time.perf_counter()
        interp = spec.build()
        mids = [
            list(interp(img0, img1, list(ts), equirect=equirect, hfov=pair_hfov(shot0, shot1)))
            for ((shot0, img0), (shot1, img1)), ts in zip(pairwise(shots), times, strict=True)
        ]
        rows.append(row(spec.label, mids, time.perf_counter() - start))
    if externals and cfg.external:
        with tempfile.TemporaryDirectory(prefix="viewsynth-walk-") as tmp:
            work = Path(tmp)
            for k, photo in enumerate(photos):
                write_image(work / f"{k:03d}.png", photo)
            for ext in externals:
                if not ext.takes_time:
                    notes.append(f"walk: {ext.name} skipped (a {{list}} command gets midpoints)")
                    continue
                asks = [(k, t) for k, ts in enumerate(times) for t in ts]
                triplets = [
                    (work / f"{k:03d}.png", work / f"{k + 1:03d}.png", work / f"{ext.name}_{j}.png")
                    for j, (k, _) in enumerate(asks)
                ]
                log(f"walk: external {ext.name} on {cfg.pairs} pairs at --factor {cfg.factor}")
                start = time.perf_counter()
                outs = ext.run(triplets, work / f"list_{ext.name}.txt", [t for _, t in asks])
                mids: list[list[np.ndarray]] = [[] for _ in times]
                for (k, _), out in zip(asks, outs, strict=True):
                    mids[k].append(out)
                rows.append(row(ext.name, mids, time.perf_counter() - start))
    return rows, notes


def walk_section(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The report's lines for the walk: what was measured and how, then ``walk_table``; none
    without rows."""
    if not rows:
        return []
    first = rows[0]
    start = first.get("start", 0)
    return [
        f"**The walkthrough** ({first['capture']}, {first['size']}, pairs {start + 1}-"
        f"{start + first['pairs']} of its photos at `--factor {first['factor']}`, made as "
        "`viewsynth interpolate` makes them, uint8; pulse: the mid-pair frame's detail (mean "
        "squared Sobel gradient at 512 wide, cos(latitude)-weighted on panoramas) over the mean "
        "of its two photos', mean over pairs, 1.0 as sharp between photos as at them; step "
        "ratio: the mean step next to a photo over the mean step between in-between frames, a "
        "step being the mean absolute grey difference of consecutive frames at 512 wide, 1.0 "
        "even steps through the photos; motion step ratio: the same of the grey low-passed by a "
        "Gaussian of 4 pixels, 1.0 even motion whatever the detail does; s/frame: the calls "
        "over the in-between frames, loading and compiling included)",
        "",
        walk_table(rows),
        "",
    ]


def walk_table(rows: Sequence[dict[str, Any]]) -> str:
    """One row per method: pulse, step ratio, motion step ratio (a run from before it: blank),
    seconds per frame, markdown."""
    lines = [
        "| method | pulse | step ratio | motion step ratio | s/frame |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        motion = r.get("motion_step_ratio")
        cells = [r["method"], f"{r['pulse']:.3f}", f"{r['step_ratio']:.3f}"]
        cells.append("" if motion is None else f"{motion:.3f}")
        cells.append(f"{r['seconds_per_frame']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
