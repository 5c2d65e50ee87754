"""Frame interpolators behind one interface, one module per method: ``linear`` (:mod:`.linear`),
``flow`` (:mod:`.flow`, classical), ``sweep`` (:mod:`.sweep`, geometry) and ``rnn`` (:mod:`.rnn`,
the network).

Every interpolator is called as ``interp(img0, img1, times, equirect=...)`` with ``img0``, ``img1``
of shape ``(H, W, 3)`` float32 RGB in [0, 1] and ``times`` a sequence of t in (0, 1); it returns
``(T, H, W, 3)`` float32 in [0, 1], one frame per t. Each checks a user's inputs at its door
(:mod:`.inputs`: uint8 taken as its float, t = 0 and 1 answered with the inputs, anything else
refused with a ``FrameError`` or ``ViewsynthError`` that says what). ``equirect=True`` means both frames are 2:1
panoramas whose left and right edges meet (the seam): nothing may treat those edges as borders.
``hfov``: perspective frames' horizontal field of view in degrees, from the capture's metadata
(None: unknown; geometry then assumes :data:`viewsynth.geometry.pose.DEFAULT_HFOV_DEG` and says
so). Methods without geometry ignore it.

Every interpolator also describes itself: ``record()`` is a plain dict of what decides its frames
(``{"method": ...}``, and for ``rnn`` the weights file, its hash and K), written into the manifest
and hashed into the resume fingerprint; ``last_pair()`` is a plain dict of what ran on the last
pair it made (``{}`` where every pair is made the same way; ``sweep``: the method, why, the pose).
A wrapper must forward both.

Flow convention (:mod:`viewsynth.warp`): ``flow_t0`` maps a pixel of the in-between view to its
match in frame 0, in pixels, ``(..., 2)`` with x first. For panoramas x is taken modulo the width.

The network's module (``rnn``, with JAX) is imported on first use of :class:`RNNInterpolator` or
``make_interpolator('rnn')``, so ``flow`` and ``sweep`` start without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.interpolators.flow import Flow
from viewsynth.interpolators.linear import Linear
from viewsynth.interpolators.sweep import GeometrySettings, Sweep

if TYPE_CHECKING:
    from viewsynth.interpolators.rnn import RNNInterpolator

METHODS = ("linear", "flow", "sweep", "rnn")
#: The best method we have measured (README, docs/BENCHMARK.md): the shipped ``rnn`` (the geometry network,
#: with the 2D network on pairs without a pose) beats ``flow`` and ``sweep`` on every panorama set
#: and is within 0.01 dB of the 2D network or better on the perspective sets (TRAINING_LOG.md).
DEFAULT_METHOD = "rnn"

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Flow",
    "GeometrySettings",
    "Interpolator",
    "Linear",
    "RNNInterpolator",
    "Sweep",
    "make_interpolator",
]


@runtime_checkable
class Interpolator(Protocol):
    name: str

    def __call__(
        self,
        img0: np.ndarray,
        img1: np.ndarray,
        times: Sequence[float],
        *,
        equirect: bool,
        hfov: float | None = None,
    ) -> np.ndarray: ...

    def record(self) -> dict[str, Any]: ...

    def last_pair(self) -> dict[str, Any]: ...


def make_interpolator(
    method: str,
    *,
    iters: int | None = None,
    scale: float | None = None,
    weights: str | None = None,
    photos_weights: str | None = None,
) -> Interpolator:
    """The interpolator called ``method``; ``iters``/``scale``/``weights``/``photos_weights``
    apply to ``rnn`` (:meth:`RNNInterpolator.load`: a geometry network comes with its sweep, its
    fallback and its photos network, ``photos_weights`` or the shipped one)."""
    if method == "linear":
        return Linear()
    if method == "flow":
        return Flow()
    if method == "sweep":
        return Sweep()
    if method == "rnn":
        from viewsynth.interpolators.rnn import RNNInterpolator

        return RNNInterpolator.load(weights, iters=iters, scale=scale, photos=photos_weights)
    raise ViewsynthError(f"--method: unknown method {method!r} (choose from {', '.join(METHODS)})")


def __getattr__(name: str):
    if name == "RNNInterpolator":
        from viewsynth.interpolators.rnn import RNNInterpolator

        return RNNInterpolator
    raise AttributeError(f"module 'viewsynth.interpolators' has no attribute {name!r}")
