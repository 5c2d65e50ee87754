"""A textured room with a pillar, ray-cast in NumPy: exact poses and depths for the sweep's tests
(tests/test_sweep.py through panoramas, tests/test_sweep_pinhole.py through pinhole cameras). The
texture is a smooth random function of the 3D point, so every view of a point has its colour."""

from __future__ import annotations

import numpy as np


def ry(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def texture(p: np.ndarray, scale: float) -> np.ndarray:
    """RGB in [0, 1] of the points ``p`` ``(..., 3)``; ``scale``: the waves' spatial frequency."""
    rng = np.random.default_rng(5)
    freq = rng.normal(0, scale, (12, 3))
    phase = rng.uniform(0, 2 * np.pi, 12)
    mix = rng.uniform(0, 1, (12, 3))
    waves = np.sin(p @ freq.T + phase)
    return np.clip(0.5 + 0.12 * waves @ mix, 0.0, 1.0)


def cast(origin, d: np.ndarray, lo, hi, pillar, scale: float):
    """``(distance, colour)`` of the rays ``d`` ``(..., 3)`` from ``origin`` in the box ``lo``-``hi``
    with a floor-to-ceiling cylinder ``pillar`` = (x, z, radius): the nearest hit."""
    o = np.asarray(origin, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_box = np.min(np.maximum((lo - o) / d, (hi - o) / d), axis=-1)
        px, pz = o[0] - pillar[0], o[2] - pillar[1]
        a = d[..., 0] ** 2 + d[..., 2] ** 2
        b = px * d[..., 0] + pz * d[..., 2]
        disc = b * b - a * (px * px + pz * pz - pillar[2] ** 2)
        t_cyl = np.where(disc > 0, (-b - np.sqrt(np.maximum(disc, 0))) / a, np.inf)
    dist = np.where((t_cyl > 0) & (t_cyl < t_box), t_cyl, t_box)
    return dist, texture(o + dist[..., None] * d, scale)
