"""A video file as a capture: which decoded frames become shots.

Decoding lives in :mod:`viewsynth.frames` (``iter_video``, ``video_info``). Sampling keeps every
Nth decoded frame (``capture.every_frames``) or, with ``capture.every_seconds`` > 0, the first
frame at or after each multiple of S seconds of video time. A shot's ``time`` is its frame index
over the fps, its ``name`` ``"video.mp4#123"``. A decoding error after the first frame ends the
capture there with a warning; before it, it is an error naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewsynth.capture.heading import band_yaw, horizon_band
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.segments import error_reason, finish, wants_rotation
from viewsynth.capture.shot import Capture, Shot
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.frames import from_uint8, iter_video, video_info


def sampled(index: int, fps: float, every_frames: int, every_seconds: float) -> bool:
    """Whether decoded frame ``index`` is kept: every ``every_frames``-th frame, or, when
    ``every_seconds`` > 0, the first frame at or after each multiple of ``every_seconds``."""
    if every_seconds <= 0.0:
        return index % every_frames == 0
    # Frame i covers video time [i/fps, (i+1)/fps); keep it when a sampling instant falls inside.
    start, end = index / fps, (index + 1) / fps
    k = np.ceil(start / every_seconds - 1e-9)
    return bool(k * every_seconds < end - 1e-9)


def load_video(path: Path, options: CaptureOptions) -> Capture:
    """The capture in the video file ``path``: sampled frames, decoded once, one at a time."""
    fps, (width, height) = video_info(path)
    if width * height > options.max_pixels:
        raise FrameError(
            f"{path}: {width}x{height} frames are too large to decode safely "
            f"(limit {options.max_pixels} pixels)"
        )
    warnings: list[str] = []
    shots: list[Shot] = []
    prev_band, rotation = None, 0.0
    decoded = 0
    try:
        for index, frame in iter_video(path):
            decoded = index + 1
            if not sampled(index, fps, options.every_frames, options.every_seconds):
                continue
            h, w = frame.shape[:2]
            item_rotation = None
            if wants_rotation((w, h), options):
                band = horizon_band(from_uint8(frame))
                if prev_band is not None:
                    rotation -= band_yaw(prev_band, band)
                prev_band, item_rotation = band, rotation
            shots.append(
                Shot(
                    path=path,
                    name=f"{path.name}#{index}",
                    size=(w, h),
                    frame_index=index,
                    time=index / fps,
                    rotation=item_rotation,
                )
            )
    except FrameError as err:
        if decoded == 0:
            raise ViewsynthError(
                f"{path}: no frame could be decoded ({error_reason(err, path)})"
            ) from None
        warnings.append(
            f"{path.name}: decoding stopped at frame {decoded}; using the frames before it"
        )
    if len(shots) < 2:
        how = (
            f"every {options.every_seconds:g} s"
            if options.every_seconds > 0
            else f"every {options.every_frames} frames"
        )
        raise ViewsynthError(
            f"{path}: fewer than two usable frames ({len(shots)} sampled {how} from "
            f"{decoded} decoded frames; sample more often)"
        )
    return finish(path, "video", "video", shots, options, [], warnings)
