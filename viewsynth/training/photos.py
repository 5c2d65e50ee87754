"""The photos network's fine-tune on a capture of ordinary photos (``viewsynth finetune``).

``rnn`` makes a pair of ordinary photos with the photos network (a geometry network whose second
candidate is the pinhole sweep's) where the sweep finds a usable pose, the camera moving within 25
degrees of its axis, and with the 2D network otherwise. So only the triplets whose outer pair has
such a pose teach the photos network anything it will use; the others are left out and counted.
Each kept triplet gets its start once, as the product computes it: on the whole pair at the size
``rnn`` decides at (:func:`network_size`), DIS and the pinhole sweep's candidate at ``t = 0.5``
with the pair's field of view (:func:`viewsynth.capture.projection.pair_hfov`), from the sweep the
base weights record. Batches are random crops of the frames and of that estimate alike (its flows
are in pixels, which a crop keeps), with the photometric augmentation only: a flip or a reversal
would need the estimate made again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from viewsynth.capture.projection import pair_hfov
from viewsynth.errors import ConfigError, ViewsynthError, WeightsError
from viewsynth.interpolators.fit import WORK_WIDTH, auto_scale
from viewsynth.interpolators.sweep import GeometrySettings, Sweep
from viewsynth.model.init import classical_init, with_geometry
from viewsynth.model.state import Init
from viewsynth.model.weights import FLOW_ONLY_WEIGHTS
from viewsynth.training import augment as augment_lib
from viewsynth.training.batch import Batch, stack_batch


def network_size(width: int, height: int) -> tuple[int, int]:
    """``(w, h)`` at which ``rnn`` decides on a photo of ``width`` x ``height``: at most
    :data:`~viewsynth.interpolators.fit.WORK_WIDTH` columns (``RNNInterpolator.working_size``)."""
    s = auto_scale(width, WORK_WIDTH)
    if s >= 1.0:
        return width, height
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


def sweep_of(base: Path, info: dict[str, Any]) -> Sweep:
    """The sweep the base weights record (as ``rnn`` builds it for them)."""
    try:
        return Sweep.for_network(GeometrySettings.from_record(info.get("geometry")))
    except ConfigError as err:
        raise WeightsError(f"{base}: bad geometry record in the weights file ({err})") from None


@dataclasses.dataclass
class PosedTriplets:
    """The triplets the photos network makes (``keep``: their indices in the capture's triplets),
    each with its whole-frame start ``inits[k]`` (an ``Init`` with B = 1), and why each other
    one has none (``reasons``: the sweep's reason, by triplet index)."""

    keep: list[int]
    inits: dict[int, Init]
    reasons: dict[int, str]
    notes: list[str] = dataclasses.field(default_factory=list)


def posed_triplets(triplets, shots, sweep: Sweep) -> PosedTriplets:
    """Each triplet's pose and start (see the module docstring); ``triplets`` a
    :class:`~viewsynth.training.finetune.CaptureTriplets` of ordinary photos, ``shots`` the
    capture's shots its choices index."""
    keep, inits, reasons = [], {}, {}
    for k, (a, _m, b) in enumerate(triplets.choices):
        tr = triplets.triplet(k)
        hfov = pair_hfov(shots[a], shots[b])
        geo = sweep.candidates(tr.img0, tr.img1, [0.5], equirect=False, hfov=hfov)
        if geo is None:
            reasons[k] = str(sweep.last_pair().get("reason") or "no usable pose")
            continue
        init = classical_init(tr.img0, tr.img1, [0.5], equirect=False)
        inits[k] = with_geometry(init, tr.img0, tr.img1, geo, equirect=False)
        keep.append(k)
    return PosedTriplets(keep, inits, reasons)


def tune_photos(
    capture, triplets, shots, base: Path, info: dict[str, Any]
) -> tuple[PosedTriplets, dict[str, Any]]:
    """The triplets a photos network ``base`` (described by ``info``) makes, with their starts
    and a note on those it leaves to the 2D network, and the sweep settings it was given (for the
    written file); a ``ViewsynthError`` when it makes none."""
    sweep = sweep_of(base, info)
    posed = posed_triplets(triplets, shots, sweep)
    kinds = [reason.split(" (")[0] for reason in posed.reasons.values()]  # (without its figures)
    why = "; ".join(f"{kinds.count(k)} {k}" for k in sorted(set(kinds)))
    if not posed.keep:
        raise ViewsynthError(
            f"{capture}: no triplet's photos have a usable pose ({why}), so the photos network "
            f"({base.name}) makes none of their frames: give --weights {FLOW_ONLY_WEIGHTS} to "
            "tune the 2D network, which makes them"
        )
    if posed.reasons:
        posed.notes.append(
            f"{len(posed.reasons)} of {len(triplets)} triplets have no usable pose ({why}): "
            f"their pairs are made by the shipped 2D network ({FLOW_ONLY_WEIGHTS.name}), "
            "which this does not tune"
        )
    return posed, sweep.settings.record()


def crop_init(init: Init, y: int, x: int, height: int, width: int) -> Init:
    """The ``height`` x ``width`` window at ``(y, x)`` of every map of ``init`` (B, H, W, C)."""
    return jax.tree.map(lambda a: np.ascontiguousarray(a[:, y : y + height, x : x + width]), init)


def photo_batches(triplets, posed: PosedTriplets, cfg, stride: int) -> Callable[[int], Batch]:
    """``make(step)``: a batch of ``cfg.batch_size`` random crops (``cfg.crop``, at most the
    frames' size in multiples of ``stride``) of the posed triplets, their starts cropped alike."""
    h, w = triplets.shape
    side = min(cfg.crop, h // stride * stride, w // stride * stride)
    photometric = dataclasses.replace(cfg.augment, hflip=0.0, vflip=0.0, reverse=0.0)

    def make(step: int) -> Batch:
        rng = np.random.default_rng([cfg.seed, step])
        rows, inits = [], []
        for _ in range(cfg.batch_size):
            k = posed.keep[int(rng.integers(len(posed.keep)))]
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            tr = augment_lib.crop(triplets.triplet(k), y, x, side, side)
            rows.append(augment_lib.augment(rng, tr, photometric))
            inits.append(crop_init(posed.inits[k], y, x, side, side))
        batch = stack_batch(rows, classical_init=False)
        init = jax.tree.map(lambda *a: np.concatenate(a), *inits)
        return dataclasses.replace(batch, init=init)

    return make
