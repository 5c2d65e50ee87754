"""Edge-aware aggregation of a cost volume: the guided filter (He et al., 2010), wrapping in
longitude.

Every inverse-depth slice of the volume ``(h, w, N)`` is filtered with the reference panorama's
grey image as the guide: costs are averaged over a window, but across an edge of the guide they
are not mixed, so a thin pole keeps its own depth against the facade behind it. All box sums wrap
in longitude (:func:`viewsynth.sweep.cost.box_wrap`), so the seam is like any other column.
"""

from __future__ import annotations

import numpy as np

from viewsynth.sweep.cost import box_wrap


def guided_filter(volume: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """The guided filter of each channel of ``volume`` ``(h, w, N)`` by ``guide`` ``(h, w)``;
    ``eps`` (in the guide's squared units) sets how strong an edge must be to stop the averaging."""
    g = guide[..., None]
    mean_g = box_wrap(guide, radius)[..., None]
    var_g = box_wrap(guide * guide, radius)[..., None] - mean_g * mean_g
    mean_p = box_wrap(volume, radius)
    cov = box_wrap(volume * g, radius) - mean_g * mean_p
    a = cov / (var_g + eps)
    b = mean_p - a * mean_g
    return (box_wrap(a, radius) * g + box_wrap(b, radius)).astype(np.float32)
