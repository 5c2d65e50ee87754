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


#: Width of the band (a fraction of the panorama) whose texture decides :func:`canonical_seam`.
SEAM_BAND = 1 / 32


def canonical_seam(image: np.ndarray) -> int:
    """The column where a panorama's content puts its seam: the centre of its least textured band.

    Equivariant to the last bit: for ``np.roll(image, k, 1)`` it returns ``(column + k) % W``, as
    every step (channel mean, circular differences, column sums, a band sum of rolled copies) works
    the same on each column wherever it sits. Matching a pair with this column of view 0 moved to
    the seam makes the pose independent of where the camera put the seam, and keeps feature-rich
    content away from it.
    """
    image = np.asarray(image)
    # the channel mean, added as ``mean(axis=2)`` in float64 adds float32 or uint8 channels (the
    # same to the bit), four times faster
    grey = sum(np.asarray(image[..., k], np.float64) for k in range(1, image.shape[2]))
    grey = (np.asarray(image[..., 0], np.float64) + grey) / image.shape[2]
    texture = np.abs(np.roll(grey, -1, 1) - grey) + np.abs(np.diff(grey, axis=0, append=grey[-1:]))
    columns = texture.sum(axis=0)
    half = max(1, int(round(grey.shape[1] * SEAM_BAND / 2)))
    band = np.zeros_like(columns)
    for k in range(-half, half + 1):
        band += np.roll(columns, k)
    return int(np.argmin(band))


def on_canonical_seam(
    call, img0: np.ndarray, img1: np.ndarray, *args, tell_shift: bool = False, **kwargs
) -> np.ndarray:
    """``call(img0, img1, *args, **kwargs)`` -> frames ``(T, H, W, C)``, run on both panoramas
    rolled so that view 0's :func:`canonical_seam` column is column 0, the frames rolled back.
    ``tell_shift``: ``call`` also gets ``seam_shift=`` the columns both were rolled left by (to
    turn what it records, such as a pose, back to the caller's axes).

    The roll property then holds exactly for any method so called, whatever it does at the seam:
    rolling both inputs by k columns moves the canonical column by k, so the method sees the very
    same pixels and its frames come back rolled by k. (DIS, SIFT and the network's 8x8 blocks are
    not shift-equivariant by themselves.) It also keeps feature-rich content off the seam.
    """
    shift = canonical_seam(img0)
    if tell_shift:
        kwargs["seam_shift"] = shift
    if shift == 0:
        return call(img0, img1, *args, **kwargs)
    out = call(np.roll(img0, -shift, 1), np.roll(img1, -shift, 1), *args, **kwargs)
    return roll_frames(out, shift)


def roll_frames(frames: np.ndarray, shift: int) -> np.ndarray:
    """``np.roll(frames, shift, axis=-2)`` of ``(..., H, W, C)`` frames, done in place a frame at a
    time: the same values, with one frame's scratch instead of a second copy of them all (a pair
    of 5760x2880 panoramas at ``--factor 8``: 1.4 GB less)."""
    shift %= frames.shape[-2]
    if shift == 0 or frames.size == 0:
        return frames
    flat = frames.reshape(-1, *frames.shape[-3:])  # a view (the interpolators' arrays are whole)
    if not np.shares_memory(flat, frames):
        return np.roll(frames, shift, axis=-2)
    for frame in flat:
        frame[...] = np.roll(frame, shift, axis=1)
    return frames
