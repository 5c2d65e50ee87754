"""``linear``: the cross-fade, the floor every method must beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from viewsynth.interpolators.inputs import checked_call


class Linear:
    """Cross-fade: ``(1 - t) * img0 + t * img1``, ``(T, H, W, 3)`` from two ``(H, W, 3)``."""

    name = "linear"

    def record(self) -> dict[str, Any]:
        return {"method": self.name}

    def last_pair(self) -> dict[str, Any]:
        """Nothing to say per pair: every pair is cross-faded."""
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
        t = np.asarray(times, dtype=np.float32)[:, None, None, None]
        return ((1.0 - t) * img0[None] + t * img1[None]).astype(np.float32)
