"""Validation against the classical baseline on fixed held-out triplets.

Every ``validation.every`` steps the network is scored on sets that never change during a run:
held-out street panoramas (WS-PSNR; seeds at or above ``synth.HELDOUT_SEED``, never trained on),
perspective street views (PSNR) and, with ``validation.video``, triplets of the training video's
held-out tail. Scores are on the uint8 frame a user would get. The flow baseline (``--method
flow``) is scored once on the same triplets; :func:`score` (the mean gain over it, in dB) picks a
run's best weights.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from viewsynth import synth
from viewsynth.geometry.seam import canonical_seam
from viewsynth.interpolators import Flow
from viewsynth.model.network import Network
from viewsynth.training import losses
from viewsynth.training.config import ValidationConfig
from viewsynth.training.sources import Batch, stack_batch
from viewsynth.training.step import predict


@dataclasses.dataclass
class ValidationSet:
    """Held-out triplets of one kind, their classical init and the flow baseline's score."""

    name: str
    batch: Batch
    flow_psnr: float


def video_triplets(frames: Sequence[np.ndarray], count: int, stride: int) -> list[synth.Triplet]:
    """``count`` triplets ``(i - g, i, i + g)``, g in (1, 2), spread evenly over ``frames``, each
    frame cropped (centred) to multiples of ``stride``."""
    choices = [(i, g) for g in (1, 2) for i in range(g, len(frames) - g)]
    picks = [choices[int(k)] for k in np.linspace(0, len(choices) - 1, min(count, len(choices)))]
    h, w = frames[0].shape[:2]
    top, left = (h % stride) // 2, (w % stride) // 2
    rows, cols = slice(top, top + h - h % stride), slice(left, left + w - w % stride)
    out = []
    for i, g in picks:
        a, m, b = (np.asarray(frames[j], np.float32)[rows, cols] for j in (i - g, i, i + g))
        out.append(synth.Triplet(a, m, b, 0.5, False))
    return out


def validation_sets(
    cfg: ValidationConfig,
    photos: Sequence[np.ndarray] = (),
    video_frames: Sequence[np.ndarray] = (),
    stride: int = 8,
    geometry: bool = True,
    pinhole: bool = False,
) -> list[ValidationSet]:
    """Held-out street panoramas and perspective views (seeds at or above ``HELDOUT_SEED``) and,
    with ``cfg.video``, triplets of ``video_frames`` (the training video's held-out tail).
    ``pinhole``: a geometry network's perspective views get the pinhole sweep's candidate (a
    photos network's validation), else DIS twice."""
    sets = []
    if cfg.panoramas > 0:
        triplets = [
            synth.Triplet(a, m, b, t, True)
            for a, m, b, t in synth.heldout_panoramas(
                cfg.panoramas, cfg.width, cfg.height, photos=photos
            )
        ]
        sets.append(("pano", triplets))
    if cfg.perspective > 0:
        seed = synth.VALIDATION_PERSPECTIVE_SEED
        textures = synth.make_textures(seed, photos=photos)
        triplets = [
            synth.street_triplet(
                seed + i, textures, width=cfg.size, height=cfg.size, equirect=False
            )
            for i in range(cfg.perspective)
        ]
        sets.append(("persp", triplets))
    if cfg.video > 0 and len(video_frames) >= 3:
        sets.append(("video", video_triplets(video_frames, cfg.video, stride)))
    out = []
    flow = Flow()
    for name, triplets in sets:
        triplets = [on_canonical_seam(tr) for tr in triplets]
        batch = stack_batch(triplets, geometry=geometry, pinhole=pinhole)
        scores = [
            losses.psnr_uint8(
                flow(tr.img0, tr.img1, [tr.t], equirect=tr.equirect)[0],
                tr.mid,
                equirect=tr.equirect,
            )
            for tr in triplets
        ]
        out.append(ValidationSet(name, batch, float(np.mean(scores))))
    return out


def on_canonical_seam(triplet: synth.Triplet) -> synth.Triplet:
    """A panorama triplet rolled so that view 0's canonical seam is column 0, as ``--method rnn``
    and ``flow`` run a pair: the network is validated as a user runs it, and the flow baseline
    (which rolls by the same column, now 0) starts from the very flows the network starts from."""
    if not triplet.equirect:
        return triplet
    shift = canonical_seam(triplet.img0)
    a, m, b = (np.roll(x, -shift, 1) for x in (triplet.img0, triplet.mid, triplet.img1))
    return dataclasses.replace(triplet, img0=a, mid=m, img1=b)


def validate(model: Network, sets: list[ValidationSet], iters: int) -> dict[str, float]:
    """Mean (WS-)PSNR of the model and of the flow baseline on each set."""
    out: dict[str, float] = {}
    for vs in sets:
        b = vs.batch
        pred = np.asarray(
            predict(model, b.img0, b.img1, b.t, b.init, equirect=b.equirect, iters=iters)
        )
        scores = [
            losses.psnr_uint8(p, m, equirect=b.equirect) for p, m in zip(pred, b.mid, strict=True)
        ]
        metric = "wspsnr" if b.equirect else "psnr"
        out[f"{vs.name}_{metric}_model"] = float(np.mean(scores))
        out[f"{vs.name}_{metric}_flow"] = vs.flow_psnr
    return out


def score(metrics: dict[str, float]) -> float:
    """One number to pick the best checkpoint: the mean gain over the flow baseline (dB)."""
    gains = [
        metrics[k] - metrics[k.replace("_model", "_flow")] for k in metrics if k.endswith("_model")
    ]
    return float(np.mean(gains)) if gains else -math.inf
