"""Every method on the same frames: per-sample scores, times and crops of the seam region.

``evaluate`` walks each dataset once; for each sample it runs every in-process method, rounds the
result to uint8 and scores it (``metrics.score``; the detail ratio of ``detail.detail_ratio``, the
output's detail over the truth's; for panoramas also the rotation-compensated
WS-PSNR of ``rotation.rc_ws_psnr``, its cost kept as ``rc_seconds``). External commands run once per dataset on the
same frames written as PNG. A set with ``fit_times`` (real panorama walks) also asks every method
for those in-between times, in a second, untimed call, and keeps as ``trc_ws_psnr`` the best
rc-WS-PSNR over them and the set's own t (``trc_t``: the time that won): where along the path a
walker took the middle shot is chance, as the camera's orientation is, and a sharp view of the
wrong place otherwise loses to a blur. Times are wall seconds per in-between frame, measured around the
call in this process; a method's first call at each image size (where a jitted method compiles)
is flagged ``first_of_size`` and left out of the summary's median when other calls exist. The
first sample of each set also leaves a crop of the ground truth and of each method's result:
across the seam for panoramas, the centre for perspective images. A line per sample says what is
done and left, and the estimated time left (``progress``).

This module also holds the benchmark config schema (``BenchmarkConfig``) and how its sets are
opened (``open_sets``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.contrast import Contrast, ContrastFinder
from viewsynth.evaluation.datasets import Dataset, DatasetUnavailable, rolled
from viewsynth.evaluation.detail import detail_ratio
from viewsynth.evaluation.job import JobConfig
from viewsynth.evaluation.metrics import score, seam_columns
from viewsynth.evaluation.peers import (
    ExternalCommand,
    MethodSpec,
    UnsupportedInput,
    made_by,
    others_note,
    ready,
)
from viewsynth.evaluation.progress import Progress
from viewsynth.evaluation.rotation import rc_ws_psnr
from viewsynth.evaluation.sets import DatasetConfig, from_config
from viewsynth.evaluation.speed import SpeedConfig
from viewsynth.evaluation.walk import WalkConfig
from viewsynth.frames import read_image, to_uint8, write_image
from viewsynth.interpolators import Interpolator
from viewsynth.interpolators.inputs import check_image

Log = Callable[[str], None]
METRICS = ("psnr", "ssim", "ie", "ws_psnr", "rc_ws_psnr", "trc_ws_psnr", "seam_ws_psnr", "detail")


@dataclass
class SetResult:
    """Scores of every method on one set. ``scores[label][k]`` belongs to ``samples[k]``."""

    name: str
    kind: str
    source: str
    equirect: bool
    rolled: bool
    samples: list[str] = field(default_factory=list)
    scores: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Crops of the first sample: "ground truth" and each method's label -> (h, w, 3) uint8.
    crops: dict[str, np.ndarray] = field(default_factory=dict)
    # Where the default wins and loses most against flow (``contrast``), with their crops.
    contrasts: list[Contrast] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per method: the mean of each metric over samples, and the median seconds per frame."""
        out: dict[str, dict[str, float]] = {}
        for label, rows in self.scores.items():
            if not rows:
                continue
            means = {m: float(np.mean([r[m] for r in rows])) for m in METRICS if m in rows[0]}
            warm = [r["seconds"] for r in rows if not r.get("first_of_size")]
            means["seconds"] = float(np.median(warm or [r["seconds"] for r in rows]))
            means["count"], means["first_calls_only"] = len(rows), float(not warm)
            out[label] = means
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``results.json`` (no images)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "equirect": self.equirect,
            "rolled": self.rolled,
            "samples": self.samples,
            "summary": self.summary(),
            "scores": self.scores,
            "notes": self.notes,
            "contrasts": [c.to_json() for c in self.contrasts],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SetResult:
        """A set read back from ``results.json`` (scores and notes; the crops are not kept)."""
        keys = ("name", "kind", "source", "equirect", "rolled", "samples", "scores", "notes")
        contrasts = [Contrast.from_json(c) for c in data.get("contrasts", [])]
        return cls(**{k: data[k] for k in keys}, contrasts=contrasts)


def crop_region(height: int, width: int, equirect: bool) -> tuple[slice, np.ndarray]:
    """Rows and columns of the montage crop: across the seam (panoramas) or the centre.

    Panoramas: the seam columns of ``seam_ws_psnr`` (at least 32 on each side) over the middle half
    of the rows, where street content sits. Perspective: the central quarter of the width.
    """
    rows = slice(height // 4, height - height // 4)
    if equirect:
        n = max(len(seam_columns(width)) // 2, min(32, width // 2))
        return rows, np.concatenate([np.arange(width - n, width), np.arange(n)])
    quarter = max(1, width // 8)
    return rows, np.arange(width // 2 - quarter, width // 2 + quarter)


def _crop(image: np.ndarray, equirect: bool) -> np.ndarray:
    rows, cols = crop_region(image.shape[0], image.shape[1], equirect)
    return np.ascontiguousarray(image[rows][:, cols])


def evaluate(
    datasets: Sequence[Dataset],
    methods: Sequence[MethodSpec | Interpolator],  # or any spec with .label and .build()
    externals: Sequence[ExternalCommand] = (),
    log: Log | None = None,
) -> list[SetResult]:
    """Score every method on every sample of every set; one ``SetResult`` per set.

    Methods are built once and reused across sets. A method that cannot handle a set's samples
    (``UnsupportedInput``) is dropped from that set with a note; other errors propagate.
    """
    log = log or (lambda _msg: None)
    built = ready(methods, externals, log)
    seen: set[tuple[str, tuple[int, ...]]] = set()  # (method, image shape) already called
    plan = [planned_units(d) for d in datasets]
    progress = Progress("quality", sum(plan), len(datasets), log)
    results = []
    for dataset, units in zip(datasets, plan, strict=True):
        progress.start_part(dataset.name, dataset.count, units)
        results.append(_evaluate_set(dataset, built, externals, log, seen, progress))
        progress.end_part()
    return results


#: Per-call cost of a sample apart from its pixels, in megapixels (scoring, ffmpeg's start, Python):
#: on the 2-core machine, under load, a 0.08-megapixel UCF101 triplet took 3.6 s and a
#: 0.59-megapixel udacity one about 6-10 s.
CALL_MEGAPIXELS = 0.3


def planned_units(dataset: Dataset) -> float:
    """A set's expected cost for progress estimates: samples x (megapixels + a fixed cost) x
    calls per sample (a panorama set with ``fit_times`` asks for more times, each scored with the
    rotation search)."""
    width, height = dataset.size or (1024, 512)
    calls = 1.0 + (len(dataset.fit_times) if dataset.equirect else 0)
    return (dataset.count or 10) * (width * height / 1e6 + CALL_MEGAPIXELS) * calls


def _score(pred: np.ndarray, gt: np.ndarray, equirect: bool) -> dict[str, float]:
    """``metrics.score``, the detail ratio (``detail``) and, for panoramas, the
    rotation-compensated WS-PSNR and its seconds."""
    metrics = score(pred, gt, equirect=equirect)
    metrics["detail"] = detail_ratio(pred, gt, equirect=equirect)
    if equirect:
        start = time.perf_counter()
        metrics["rc_ws_psnr"] = rc_ws_psnr(pred, gt)
        metrics["rc_seconds"] = time.perf_counter() - start
    return metrics


def _as_scored(label: str, out: np.ndarray, sample, count: int) -> list[np.ndarray]:
    """A method's ``(T, H, W, 3)`` output as the uint8 frames scored (uint8 output as it is), or
    a ``ViewsynthError`` naming the method for another shape, NaN or a scale other than [0, 1]."""
    want = (count, *sample.gt.shape)
    if out.shape != want:
        raise ViewsynthError(
            f"method {label}: returned an array of shape {out.shape} for {sample.name}, expected "
            f"{want} (one (H, W, 3) frame per t asked)"
        )
    return [to_uint8(check_image(f"method {label}", f"output for {sample.name}", o)) for o in out]


def _other_times(dataset: Dataset, sample) -> list[float]:
    """The set's ``fit_times`` other than the sample's own t (none unless it is a panorama)."""
    if not (dataset.fit_times and sample.equirect):
        return []
    return [float(t) for t in dataset.fit_times if abs(t - sample.t) > 1e-9]


def _fit_time(
    metrics: dict[str, float],
    t: float,
    others: Sequence[float],
    preds: Sequence[np.ndarray],
    gt: np.ndarray,
) -> None:
    """``trc_ws_psnr`` / ``trc_t``: the best rc-WS-PSNR over the sample's t and ``others``."""
    scores = [metrics["rc_ws_psnr"], *(rc_ws_psnr(p, gt) for p in preds)]
    best = int(np.argmax(scores))
    metrics["trc_ws_psnr"] = float(scores[best])
    metrics["trc_t"] = float(([t, *others])[best])


def _evaluate_set(
    dataset: Dataset,
    built: Sequence[tuple[str, Any]],
    externals: Sequence[ExternalCommand],
    log: Log,
    seen: set[tuple[str, tuple[int, ...]]],
    progress: Progress,
) -> SetResult:
    result = SetResult(dataset.name, dataset.kind, dataset.source, dataset.equirect, dataset.rolled)
    result.scores = {label: [] for label, _ in built}
    made: dict[str, list[str | None]] = {label: [] for label, _ in built}  # (which weights file)
    dropped: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="viewsynth-eval-") as tmp:
        work = Path(tmp)
        externals_ok = bool(externals)
        times: list[float] = []
        finder = ContrastFinder()
        for k, sample in enumerate(dataset.samples()):
            result.samples.append(sample.name)
            if k == 0:
                result.crops["ground truth"] = _crop(sample.gt, sample.equirect)
            preds: dict[str, np.ndarray] = {}
            for label, interp in built:
                if label in dropped:
                    continue
                start = time.perf_counter()
                try:
                    asked = (sample.img0, sample.img1, [sample.t])
                    out = np.asarray(interp(*asked, equirect=sample.equirect, hfov=sample.hfov))
                except UnsupportedInput as err:
                    dropped.add(label)
                    result.scores.pop(label, None)
                    result.notes.append(f"{label}: skipped on this set ({err})")
                    continue
                seconds = time.perf_counter() - start
                made[label].append(made_by(interp))
                pred = preds[label] = _as_scored(label, out, sample, 1)[0]
                metrics = _score(pred, sample.gt, sample.equirect)
                metrics["seconds"] = seconds
                others = _other_times(dataset, sample)
                if others:
                    more = np.asarray(interp(sample.img0, sample.img1, others, equirect=True))
                    more = _as_scored(label, more, sample, len(others))
                    _fit_time(metrics, sample.t, others, more, sample.gt)
                metrics["first_of_size"] = (label, sample.img0.shape) not in seen
                seen.add((label, sample.img0.shape))
                result.scores[label].append(metrics)
                if k == 0:
                    result.crops[label] = _crop(pred, sample.equirect)
            finder.add(sample.name, preds, sample.gt, equirect=sample.equirect)
            if externals_ok:
                folder = work / f"{k:06d}"
                folder.mkdir()
                write_image(folder / "img0.png", sample.img0)
                write_image(folder / "img1.png", sample.img1)
                write_image(folder / "gt.png", sample.gt)
                times.append(float(sample.t))
            progress.step(sample.name)
        if externals_ok and result.samples:
            if not all(ext.accepts(times) for ext in externals):
                # A {list} command's lines carry no time: it is asked for midpoints only.
                off = next(t for t in times if abs(t - 0.5) > 1e-9)
                result.notes.append(
                    f"external methods: skipped on this set (t={off:.3g}; they get midpoints only)"
                )
            for ext in externals:
                if ext.accepts(times):
                    fit = dataset.fit_times if dataset.equirect and ext.takes_time else ()
                    _run_external(ext, result, work, dataset.equirect, times, log, fit)
    result.notes.extend(dataset.notes)
    for label, interp in built:
        result.notes.extend(others_note(label, interp, made[label]))
    result.contrasts = finder.found(dropped)
    return result


def _run_external(
    ext: ExternalCommand,
    result: SetResult,
    work: Path,
    equirect: bool,
    times: Sequence[float],
    log: Log,
    fit_times: Sequence[float] = (),
) -> None:
    folders = sorted(p for p in work.iterdir() if p.is_dir())
    triplets = [(f / "img0.png", f / "img1.png", f / f"out_{ext.name}.png") for f in folders]
    log(f"{result.name}: running external {ext.name} on {len(triplets)} pairs")
    start = time.perf_counter()
    outputs = ext.run(triplets, work / f"list_{ext.name}.txt", times)
    per_frame = (time.perf_counter() - start) / len(triplets)
    # fit_times: one more (untimed) run asking each pair for the other times.
    asks = [(k, float(u)) for k, t in enumerate(times) for u in fit_times if abs(u - t) > 1e-9]
    extra: dict[int, list[tuple[float, np.ndarray]]] = {}
    if asks:
        more = [
            (triplets[k][0], triplets[k][1], folders[k] / f"out_{ext.name}_t{j}.png")
            for j, (k, _) in enumerate(asks)
        ]
        outs = ext.run(more, work / f"list_{ext.name}_fit.txt", [u for _, u in asks])
        for (k, u), out in zip(asks, outs, strict=True):
            extra.setdefault(k, []).append((u, to_uint8(out)))
    rows = []
    for k, (folder, out) in enumerate(zip(folders, outputs, strict=True)):
        gt = to_uint8(read_image(folder / "gt.png").image)
        if out.shape != gt.shape:
            raise ViewsynthError(
                f"--external {ext.name}: {triplets[k][2].name} in {folder} is "
                f"{out.shape[1]}x{out.shape[0]}, expected {gt.shape[1]}x{gt.shape[0]}"
            )
        pred = to_uint8(out)
        metrics = _score(pred, gt, equirect)
        metrics["seconds"] = per_frame
        if k in extra:
            others = extra[k]
            _fit_time(metrics, times[k], [u for u, _ in others], [o for _, o in others], gt)
        rows.append(metrics)
        if k == 0:
            result.crops[ext.name] = _crop(pred, equirect)
    result.scores[ext.name] = rows


# --- the benchmark config and its sets -------------------------------------------------------------


@dataclass(frozen=True)
class ExternalConfig:
    """An external interpolator: ``command`` contains ``{list}`` (see ``peers.ExternalCommand``)."""

    name: str
    command: str


@dataclass(frozen=True)
class BenchmarkConfig:
    """The standard suite: which methods, on which sets, and where the report goes."""

    # Methods compared on the same frames: linear, flow, minterpolate, rnn.
    methods: tuple[str, ...] = ("linear", "flow", "minterpolate", "rnn")
    # rnn iteration counts K, one result per K; empty: the model's default.
    iters: tuple[int, ...] = ()
    # rnn weights; null: the shipped viewsynth/weights/default.msgpack (rnn skipped if absent).
    weights: str | None = None
    # External commands evaluated alongside (not timed in the speed section).
    external: tuple[ExternalConfig, ...] = ()
    # The sets. Those whose data are absent are skipped with a note.
    datasets: tuple[DatasetConfig, ...] = ()
    # Used only when none of ``datasets`` could be opened (a fresh clone without ../shared/data).
    fallback: tuple[DatasetConfig, ...] = ()
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    # The job itself: ``viewsynth interpolate`` per output frame on real captures (``job``).
    job: JobConfig = field(default_factory=JobConfig)
    # The walkthrough's pulse and step ratio on a real walk, every method in process (``walk``).
    walk: WalkConfig = field(default_factory=WalkConfig)
    # Where runs go (<report_dir>/<timestamp>/), the table kept in git, and the document whose
    # published section is regenerated. Relative paths are relative to the config file.
    report_dir: str = "../reports/benchmark"
    latest: str = "../reports/benchmark/latest.md"
    tables: str = "../docs/BENCHMARK.md"


def open_sets(
    configs: Sequence[DatasetConfig],
    fallback: Sequence[DatasetConfig] = (),
    base_dir: str | Path = ".",
) -> tuple[list[Dataset], list[str]]:
    """Open the configured sets (plus their rolled copies), skipping absent ones with a note;
    when none opens, the ``fallback`` sets instead."""
    datasets: list[Dataset] = []
    notes: list[str] = []
    for cfg in configs:
        label = cfg.name or cfg.path or cfg.kind
        try:
            dataset = from_config(cfg, base_dir)
        except DatasetUnavailable as err:
            notes.append(f"{label}: skipped ({err})")
            continue
        datasets.append(dataset)
        if cfg.rolled:
            if dataset.equirect:
                datasets.append(rolled(dataset))
            else:
                notes.append(f"{label}: not panoramas, so no rolled run")
    if not datasets and fallback:
        notes.append(
            "none of the configured sets is available here: using the generated fallback sets"
        )
        more, more_notes = open_sets(fallback, (), base_dir)
        datasets, notes = more, notes + more_notes
    return datasets, notes


def tell_notes(results: Sequence[SetResult], log: Callable[[str], None]) -> None:
    """Every set's notes on the console as well as in the report (a sample skipped as corrupt was
    only in the report), and ``ViewsynthError`` when not one set had a sample left to score."""
    for result in results:
        for note in result.notes:
            log(f"note: {result.name}: {note}")
    if results and not any(result.samples for result in results):
        why = "; ".join(f"{r.name}: {r.notes[0] if r.notes else 'no samples'}" for r in results)
        raise ViewsynthError(f"no sample could be scored ({why})")
