"""Edge-aware aggregation of a cost volume: the guided filter (He et al., 2010), wrapping in
longitude.

Every inverse-depth slice ``(h, w)`` of the cost is filtered with the reference panorama's
grey image as the guide: costs are averaged over a window, but across an edge of the guide they
are not mixed, so a thin pole keeps its own depth against the facade behind it. All box sums wrap
in longitude (:func:`box_wrap`), so the seam is like any other column.
"""

from __future__ import annotations

import numpy as np

from viewsynth.sweep.cost import box_wrap


class GuidedSlices:
    """The guided filter of one inverse-depth slice at a time: the guide's
    statistics once, then a few box sums per slice (a slice of a few hundred KB stays in cache).
    ``box``: the window mean, ``box(x, radius)`` (:func:`box_wrap`; an ordinary photo's sweep
    gives one that does not wrap)."""

    def __init__(self, guide: np.ndarray, radius: int, eps: float, box=box_wrap):
        self.g, self.r, self.box = guide.astype(np.float32), radius, box
        self.mean_g = box(self.g, radius)
        self.inv = 1.0 / (box(self.g * self.g, radius) - self.mean_g * self.mean_g + eps)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        # a = (mean(p g) - mean_g mean_p) / (var_g + eps), b = mean_p - a mean_g, out = mean(a) g
        # + mean(b); worked in place (the same operations in the same order)
        box = self.box
        mean_p = box(p, self.r)
        a = box(p * self.g, self.r)
        a -= self.mean_g * mean_p
        a *= self.inv
        b = np.multiply(a, self.mean_g)
        np.subtract(mean_p, b, out=b)
        out = box(a, self.r)
        out *= self.g
        out += box(b, self.r)
        return out
