"""Video captures: which decoded frames become shots.

Decoding lives in :mod:`viewsynth.frames` (``iter_video``, ``video_info``). Sampling keeps every
Nth frame or one frame every S seconds of video time.
"""

from __future__ import annotations

import numpy as np


def sampled(index: int, fps: float, every_frames: int, every_seconds: float) -> bool:
    """Whether decoded frame ``index`` is kept: every ``every_frames``-th frame, or, when
    ``every_seconds`` > 0, the first frame at or after each multiple of ``every_seconds``."""
    if every_seconds <= 0.0:
        return index % every_frames == 0
    # Frame i covers video time [i/fps, (i+1)/fps); keep it when a sampling instant falls inside.
    start, end = index / fps, (index + 1) / fps
    k = np.ceil(start / every_seconds - 1e-9)
    return bool(k * every_seconds < end - 1e-9)
