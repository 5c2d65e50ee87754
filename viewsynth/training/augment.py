"""Augmentation of training triplets (NumPy, on the data side).

A triplet is ``img0``, ``mid``, ``img1`` ``(H, W, 3)`` float32 RGB in [0, 1] with the time ``t``
of ``mid``. Geometric augmentations keep the triplet exact: yaw roll (panoramas: free, it moves the
seam through the content), horizontal flip (a mirrored street is a street), time reversal
(``img0`` and ``img1`` swap, ``t -> 1 - t``), random crops (which turn a panorama into an ordinary
image: the crop's edges are borders, not the seam). The middle view's visibility
(``Triplet.visibility``) is rolled, mirrored and cropped with the frames;
photometry leaves them alone, and so does time reversal, except that it swaps the visibility's
two channels (which input sees a pixel) with the inputs.
Photometric augmentation models what differs between two shots of a real capture: exposure,
white balance, sensor noise and JPEG artefacts. Exposure and white balance are drawn per shot and
the in-between target gets their blend at ``t`` (what a smooth video would show); noise and JPEG
touch only the inputs, so the target stays clean, unless ``degrade_target`` is set: then the
target gets its own independent noise and JPEG too, as every shot of a real camera does (the
target's noise cannot be predicted, so a network trained so learns to leave it alone instead of
learning to denoise).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from viewsynth.synth import Triplet


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and strengths of each augmentation."""

    # Panoramas: roll all three frames by a random number of columns (a multiple of this).
    roll_multiple: int = 8
    # Probability of a horizontal flip.
    hflip: float = 0.5
    # Probability of a vertical flip (perspective only; panoramas keep the sky up).
    vflip: float = 0.0
    # Probability of swapping frame 0 and frame 1 (t -> 1 - t).
    reverse: float = 0.5
    # Global colour jitter shared by all three frames: brightness, contrast, saturation ranges.
    brightness: float = 0.1
    contrast: float = 0.15
    saturation: float = 0.2
    # Per-shot differences: exposure (log2 stops, standard deviation) and white balance (per channel).
    exposure_stops: float = 0.15
    white_balance: float = 0.04
    # Sensor noise standard deviation (uniform up to this), inputs only.
    noise: float = 0.02
    # Probability of JPEG re-encoding each input, and its quality range.
    jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (50, 95)
    # Degrade the in-between target as well (independent noise and JPEG, like a real third shot).
    degrade_target: bool = False


def _geometric(triplet: Triplet, change, **fields) -> Triplet:
    """``triplet`` with ``change`` applied to its three frames and to ``mid``'s visibility (where
    it has one)."""
    seen = None if triplet.visibility is None else change(triplet.visibility)
    return dataclasses.replace(
        triplet, img0=change(triplet.img0), mid=change(triplet.mid), img1=change(triplet.img1),
        visibility=seen, **fields,
    )  # fmt: skip


def yaw_roll(triplet: Triplet, columns: int) -> Triplet:
    """Roll the three frames of a panorama by ``columns`` (positive: content moves right)."""
    return _geometric(triplet, lambda a: np.roll(a, columns, axis=1))


def hflip(triplet: Triplet) -> Triplet:
    """Mirror left-right (a panorama stays a panorama: longitude -> minus longitude)."""
    return _geometric(triplet, lambda a: np.ascontiguousarray(a[:, ::-1]))


def vflip(triplet: Triplet) -> Triplet:
    """Mirror top-bottom."""
    return _geometric(triplet, lambda a: np.ascontiguousarray(a[::-1]))


def reverse(triplet: Triplet) -> Triplet:
    """Swap frame 0 and frame 1; the target's time becomes ``1 - t`` (its visibility's channels
    swap with the frames)."""
    seen = triplet.visibility
    seen = None if seen is None else np.ascontiguousarray(seen[..., ::-1])
    return dataclasses.replace(
        triplet, img0=triplet.img1, img1=triplet.img0, t=1.0 - triplet.t, visibility=seen
    )


def crop(triplet: Triplet, y: int, x: int, height: int, width: int) -> Triplet:
    """The ``height`` x ``width`` window at ``(y, x)`` of all three frames (and of the visibility);
    never a panorama after, and its field of view no longer the view's (``hfov`` None)."""
    cut = lambda a: np.ascontiguousarray(a[y : y + height, x : x + width])  # noqa: E731
    return _geometric(triplet, cut, equirect=False, hfov=None)


def random_crop(rng: np.random.Generator, triplet: Triplet, height: int, width: int) -> Triplet:
    """A random ``height`` x ``width`` window (the whole frame when it already has that size)."""
    h, w = triplet.img0.shape[:2]
    if (h, w) == (height, width):
        return triplet
    if h < height or w < width:
        raise ValueError(f"cannot crop {height}x{width} from a {h}x{w} frame")
    return crop(
        triplet,
        int(rng.integers(0, h - height + 1)),
        int(rng.integers(0, w - width + 1)),
        height,
        width,
    )


def _saturate(image: np.ndarray, factor: float) -> np.ndarray:
    grey = image @ np.float32([0.299, 0.587, 0.114])
    return grey[..., None] + factor * (image - grey[..., None])


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round trip ``(H, W, 3)`` float through a JPEG of ``quality`` (uint8 in between)."""
    u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # cannot happen for a valid uint8 image; keep the frame rather than fail training
        return image
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


def photometric(rng: np.random.Generator, triplet: Triplet, cfg: AugmentConfig) -> Triplet:
    """Colour jitter shared by the triplet, per-shot exposure/white balance, input noise and JPEG."""
    b = 1.0 + rng.uniform(-cfg.brightness, cfg.brightness)
    c = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    s = 1.0 + rng.uniform(-cfg.saturation, cfg.saturation)
    gains = []
    for _ in range(2):
        exposure = 2.0 ** rng.normal(0.0, cfg.exposure_stops)
        balance = np.exp(rng.normal(0.0, cfg.white_balance, 3)).astype(np.float32)
        gains.append((exposure * balance).astype(np.float32))
    t = triplet.t
    gain_mid = (1.0 - t) * gains[0] + t * gains[1]

    def tone(image, gain):
        out = _saturate(image, s)
        out = (out - 0.5) * c + 0.5
        return np.clip(out * b * gain, 0.0, 1.0).astype(np.float32)

    def degrade(image):
        sigma = rng.uniform(0.0, cfg.noise)
        if sigma > 0:
            image = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        image = np.clip(image, 0.0, 1.0)
        if rng.random() < cfg.jpeg:
            image = jpeg(image, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
        return image.astype(np.float32)

    img0 = degrade(tone(triplet.img0, gains[0]))
    mid = tone(triplet.mid, gain_mid)
    return dataclasses.replace(
        triplet,
        img0=img0,
        mid=degrade(mid) if cfg.degrade_target else mid,
        img1=degrade(tone(triplet.img1, gains[1])),
    )


def augment(rng: np.random.Generator, triplet: Triplet, cfg: AugmentConfig) -> Triplet:
    """All geometric augmentations (by their probabilities), then photometric ones."""
    if triplet.equirect and cfg.roll_multiple > 0:
        w = triplet.img0.shape[1]
        triplet = yaw_roll(
            triplet, int(rng.integers(0, w // cfg.roll_multiple)) * cfg.roll_multiple
        )
    if rng.random() < cfg.hflip:
        triplet = hflip(triplet)
    if not triplet.equirect and rng.random() < cfg.vflip:
        triplet = vflip(triplet)
    if rng.random() < cfg.reverse:
        triplet = reverse(triplet)
    return photometric(rng, triplet, cfg)
