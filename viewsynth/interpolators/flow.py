"""``flow``: the classical baseline. DIS flow both ways (:mod:`viewsynth.classical`), warped to t and
blended by visibility (:func:`viewsynth.warp.fuse`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from viewsynth import classical
from viewsynth.geometry.seam import on_canonical_seam
from viewsynth.interpolators.inputs import checked_call
from viewsynth.warp import fuse


class Flow:
    """Classical baseline: ``(T, H, W, 3)`` from two ``(H, W, 3)``.

    The flows of a pair are computed once and reused for every t of that pair. Frames larger than
    ``max_side`` are analysed at reduced size, and so are the flows at t and the blend weights
    (they carry no finer detail than the flow they come from); only the two warps of the frames
    and the blend run at full size. That keeps a 5.7K panorama to a few full-size passes per frame.
    """

    name = "flow"

    def __init__(self, max_side: int = 1024, preset: str = "medium"):
        self.max_side = max_side
        self.preset = preset

    def record(self) -> dict[str, Any]:
        # ``max_side`` and ``preset`` are not recorded: ``make_interpolator`` never changes them.
        return {"method": self.name}

    def last_pair(self) -> dict[str, Any]:
        """Nothing to say per pair: every pair is made the same way."""
        return {}

    @checked_call
    def __call__(
        self,
        img0: np.ndarray,
        img1: np.ndarray,
        times: Sequence[float],
        *,
        equirect: bool = False,
        hfov: float | None = None,
    ) -> np.ndarray:
        if equirect:  # exactly roll-equivariant (DIS by itself is not)
            return on_canonical_seam(self.frames, img0, img1, times, equirect=True)
        return self.frames(img0, img1, times, equirect=False)

    def frames(
        self, img0: np.ndarray, img1: np.ndarray, times: Sequence[float], *, equirect: bool
    ) -> np.ndarray:
        """The frames of a pair as it is given: a pair of panoramas already on its canonical seam
        (:func:`viewsynth.geometry.seam.on_canonical_seam`) or not, it is not rolled here."""
        height, width = img0.shape[:2]
        flows = classical.pair_flows(
            img0, img1, equirect=equirect, max_side=self.max_side, preset=self.preset,
            full_size=False,
        )  # fmt: skip
        out = np.empty((len(times), height, width, 3), np.float32)
        for i, t in enumerate(times):
            candidate = classical.candidate_at(flows, float(t), width, height)
            fuse(img0, img1, [candidate], equirect=equirect, out=out[i])
        return out
