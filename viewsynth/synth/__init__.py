"""Synthetic data with exact in-between frames, for training and evaluation alike.

- ``textures``: texture atlases (procedural tiles, photo crops) as mip pyramids.
- ``street``: random streets as fixed-size arrays of boxes, cylinders and spheres, and the camera
  path through them (the wing's axes: +z travel, x right, y up, metres; yaw positive right).
- ``raycast``: tracing, texture lookup and shading of a street into equirect or pinhole views.
- ``triplets``: frames 0, ``t`` and 1 of a street or of flying layers (``Triplet``), and the
  held-out panoramas; seeds from ``HELDOUT_SEED`` up are never trained on.
- ``visibility``: whether frame 0 and frame 1 see what each pixel of a street panorama triplet's
  middle view sees, from the renderer's depth (``Triplet.visibility``).
- ``moving``: moving procedural textures on a plane or a panorama, for evaluation and speed tests.

Images are ``(H, W, 3)`` float32 RGB in [0, 1]; everything is deterministic from a seed, and the
held-out evaluation sets are defined by their seeds, so a change that alters a render for a given
seed changes those sets.

The names below are imported on first use: the street renderer needs JAX, the moving textures
only NumPy, and a speed-measuring process that draws a moving pair must not carry JAX's memory
into the peak it reports for a classical method.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "FREE_SLOT0": "textures",
    "GROUND_SLOTS": "textures",
    "SKY_SLOT": "textures",
    "Textures": "textures",
    "make_mips": "textures",
    "make_textures": "textures",
    "photo_tile": "textures",
    "procedural_tile": "textures",
    "CameraPath": "street",
    "Scene": "street",
    "street_scene": "street",
    "equirect_directions": "raycast",
    "perspective_directions": "raycast",
    "render_views": "raycast",
    "HELDOUT_SEED": "triplets",
    "VALIDATION_PERSPECTIVE_SEED": "triplets",
    "BENCHMARK_SEED": "triplets",
    "BENCHMARK_PERSPECTIVE_SEED": "triplets",
    "Triplet": "triplets",
    "flying_triplet": "triplets",
    "heldout_panoramas": "triplets",
    "street_triplet": "triplets",
    "MovingScene": "moving",
    "draw_moving": "moving",
    "moving_pair": "moving",
    "moving_scene": "moving",
    "moving_triplet": "moving",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return __all__
