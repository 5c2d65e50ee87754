"""viewsynth: sparse street captures (360 panoramas or photos) to smooth walkthrough videos.

The public surface, importable from the package itself::

    import viewsynth

    interp = viewsynth.make_interpolator("rnn")          # or "flow", "linear"; also the classes
    frames = interp(img0, img1, [0.25, 0.5], equirect=True)   # (H, W, 3) float32 in, (T, H, W, 3) out

    settings = viewsynth.InterpolateSettings()           # the defaults of configs/interpolate.yaml
    result = viewsynth.run_capture(Path("my_walk"), Path("out/my_walk"), settings)  # MP4s + manifest

- Interpolators: :class:`Linear`, :class:`Flow`, :class:`RNNInterpolator` (the network;
  ``RNNInterpolator.load(weights=None)``), :func:`make_interpolator`, :data:`METHODS`,
  :data:`DEFAULT_METHOD`.
- The pipeline: :func:`run_capture` (one capture folder or video to walkthrough videos),
  :class:`InterpolateSettings` (its settings), :func:`load_capture`, :class:`CaptureOptions`.
- Errors a user can cause: :class:`ViewsynthError` and its kinds :class:`ConfigError`,
  :class:`FrameError`, :class:`WeightsError`.

Everything else is reached through its wing (``viewsynth.capture``, ``viewsynth.export``, ...).
Names are imported on first use, so ``import viewsynth`` stays light (no JAX until a network runs).
"""

from __future__ import annotations

import importlib

from viewsynth.errors import ConfigError, FrameError, ViewsynthError, WeightsError

_LAZY = {
    "DEFAULT_METHOD": "viewsynth.interpolators",
    "METHODS": "viewsynth.interpolators",
    "Flow": "viewsynth.interpolators",
    "Interpolator": "viewsynth.interpolators",
    "Linear": "viewsynth.interpolators",
    "make_interpolator": "viewsynth.interpolators",
    "RNNInterpolator": "viewsynth.interpolators",
    "InterpolateSettings": "viewsynth.walkthrough",
    "run_capture": "viewsynth.walkthrough",
    "CaptureOptions": "viewsynth.capture",
    "load_capture": "viewsynth.capture",
}

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "CaptureOptions",
    "ConfigError",
    "Flow",
    "FrameError",
    "InterpolateSettings",
    "Interpolator",
    "Linear",
    "RNNInterpolator",
    "ViewsynthError",
    "WeightsError",
    "load_capture",
    "make_interpolator",
    "run_capture",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'viewsynth' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
