"""The seam: padding that wraps longitude and reflects latitude, for NumPy and JAX arrays.

Every convolution, warp border and loss window of the project pads through :func:`pad_seam`; the
property that tests it is the roll property (rolling both inputs by k columns rolls the output).
"""

from __future__ import annotations

import numpy as np


def pad_seam(x, pad: int, equirect: bool):
    """Pad an ``(..., H, W, C)`` array by ``pad`` pixels on each side of H and W.

    Panoramas: width wraps (circular), height reflects. Perspective: both reflect. Works on NumPy
    and JAX arrays alike (dispatches on the array's module). Never Flax's CIRCULAR padding, which
    would wrap the height too.
    """
    if pad == 0:
        return x
    xp = array_module(x)
    nd = x.ndim
    hw = [(0, 0)] * (nd - 3) + [(pad, pad), (0, 0), (0, 0)]
    x = xp.pad(x, hw, mode="reflect")
    ww = [(0, 0)] * (nd - 3) + [(0, 0), (pad, pad), (0, 0)]
    return xp.pad(x, ww, mode="wrap" if equirect else "reflect")


def array_module(*xs):
    """``numpy`` when every array argument is a NumPy array or a Python number, else ``jax.numpy``."""
    if all(isinstance(x, np.ndarray | np.generic | int | float) for x in xs):
        return np
    import jax.numpy as jnp

    return jnp
