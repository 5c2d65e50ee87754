"""Photos of another shape than the capture's: cut to it, never stretched, and what they then see.

A capture has one working size (``segments.finish``). A perspective photo of another aspect ratio
(a portrait among landscapes, 16:9 among 4:3) would be distorted by a plain resize (a portrait
widened 1.78x, and its field of view no longer the one its pixels span), so its centre is cut to
the working size's aspect ratio first (:func:`aspect_crop`), then resized
(:func:`crop_and_resize`); a crop of the width narrows its horizontal field of view
(:func:`cropped_hfov`), one of the height keeps it. Panoramas are never cut (all are 2:1). Crops
happen after a photo is turned upright (``frames.read_image`` applies its EXIF orientation).

A stereo video holds two views per frame, one per eye: the left one is kept (:func:`left_eye`).

A phone's photo sphere that goes all the way round but not to the poles is the other way about: a
panorama whose missing rows are put back, black (:func:`whole_sphere`).

Sizes are ``(width, height)``; boxes ``(x, y, width, height)`` in the decoded frame's pixels.
"""

from __future__ import annotations

import math

import numpy as np

from viewsynth.frames import resize


def aspect_crop(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred box of a ``size`` frame with ``target``'s aspect ratio: its full height (a frame
    wider than ``target``) or its full width. The whole frame when it has that shape already:
    within 1 % and within the half pixel a capped working size's height was rounded by (so a
    capture of one size is never cut)."""
    (w, h), (tw, th) = size, target
    if abs(h * tw - th * w) <= max(0.5, 0.01 * th) * w:
        return 0, 0, w, h
    if w * th > h * tw:
        kept = max(1, min(w, round(h * tw / th)))
        return (w - kept) // 2, 0, kept, h
    kept = max(1, min(h, round(w * th / tw)))
    return 0, (h - kept) // 2, w, kept


def crop_and_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` ``(H, W, 3)`` float32 as ``(height, width, 3)``, not stretched: its
    :func:`aspect_crop` to that shape, then ``frames.resize``d (only resized when it has it)."""
    x, y, w, h = aspect_crop((image.shape[1], image.shape[0]), (width, height))
    if (w, h) != (image.shape[1], image.shape[0]):
        image = np.ascontiguousarray(image[y : y + h, x : x + w])
    return resize(image, width, height)


def cropped_hfov(
    hfov: float | None, size: tuple[int, int], target: tuple[int, int]
) -> float | None:
    """The horizontal field of view (degrees) a photo of ``size`` keeps once cut to ``target``'s
    aspect ratio (:func:`aspect_crop`): keeping ``k`` of its ``w`` columns narrows it to
    ``2 atan(tan(hfov / 2) k / w)`` (the focal length in pixels stays); a height crop keeps it.
    None (unknown) stays None."""
    kept = aspect_crop(size, target)[2]
    if hfov is None or kept == size[0]:
        return hfov
    return math.degrees(2.0 * math.atan(math.tan(math.radians(hfov) / 2.0) * kept / size[0]))


def whole_sphere(image: np.ndarray, rows: tuple[float, float, float]) -> np.ndarray:
    """A photo sphere cut short of the poles (``Metadata.sphere_rows``: its top row, height and
    the whole sphere's height, in GPano's pixels) put back in its place on the whole 2:1 sphere,
    the rows never shot black: a panorama like any other, its equator in the middle."""
    top, height, _ = rows
    h, w = image.shape[:2]
    full_h = max(h, w // 2)
    at = min(full_h - h, max(0, round(top * h / height)))
    canvas = np.zeros((full_h, w, image.shape[2]), dtype=image.dtype)
    canvas[at : at + h] = image
    return canvas


def left_eye(image: np.ndarray, layout: str | None) -> np.ndarray:
    """The left eye's view of a stereo frame ``(H, W, C)``: the top half of a 'top-bottom' one,
    the left half of a 'left-right' one, the right half of a 'right-left' one (the Spherical Video
    V2 RFC's ``st3d`` modes); ``image`` itself for None (mono)."""
    h, w = image.shape[:2]
    if layout == "top-bottom":
        return image[: h // 2]
    if layout == "left-right":
        return image[:, : w // 2]
    if layout == "right-left":
        return image[:, w - w // 2 :]
    return image
