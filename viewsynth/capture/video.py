"""Video captures: sequential decoding with imageio's FFmpeg backend, one frame in memory at a time.

Frames come out as ``(H, W, 3)`` uint8 RGB with their decoded frame number; callers convert.
Sampling keeps every Nth frame or one frame every S seconds of video time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from viewsynth.errors import FrameError, ViewsynthError


def _reader(path: Path):
    import imageio.v2 as imageio

    try:
        return imageio.get_reader(str(path), "ffmpeg")
    except Exception as err:  # noqa: BLE001 - imageio/ffmpeg raise assorted types for bad files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ViewsynthError(f"{path}: not a readable video ({first})") from None


def video_fps(path: str | Path) -> tuple[float, tuple[int, int]]:
    """(frames per second, (width, height)) of the video at ``path``; raises if unreadable."""
    path = Path(path)
    reader = _reader(path)
    try:
        meta = reader.get_meta_data()
    finally:
        reader.close()
    fps = float(meta.get("fps") or 0.0)
    size = tuple(int(v) for v in meta.get("size", (0, 0)))
    if not fps > 0.0 or min(size) <= 0:
        raise ViewsynthError(f"{path}: video reports no frame rate or size")
    return fps, size


def sampled(index: int, fps: float, every_frames: int, every_seconds: float) -> bool:
    """Whether decoded frame ``index`` is kept: every ``every_frames``-th frame, or, when
    ``every_seconds`` > 0, the first frame at or after each multiple of ``every_seconds``."""
    if every_seconds <= 0.0:
        return index % every_frames == 0
    # Frame i covers video time [i/fps, (i+1)/fps); keep it when a sampling instant falls inside.
    start, end = index / fps, (index + 1) / fps
    k = np.ceil(start / every_seconds - 1e-9)
    return bool(k * every_seconds < end - 1e-9)


def iter_video(
    path: str | Path, wanted: set[int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` front to back, yielding ``(frame_index, (H, W, 3) uint8 RGB)``.

    With ``wanted`` only those frame numbers are yielded and decoding stops after the last one.
    A decode error mid-stream raises ``FrameError`` naming the file and the frame.
    """
    path = Path(path)
    last = max(wanted) if wanted else None
    reader = _reader(path)
    index = -1
    try:
        iterator = iter(reader)
        while True:
            try:
                frame = next(iterator)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - a broken stream surfaces as assorted errors
                raise FrameError(f"{path}: cannot decode frame {index + 1} ({err})") from None
            index += 1
            if wanted is None or index in wanted:
                yield index, np.asarray(frame)[..., :3]
            if last is not None and index >= last:
                return
    finally:
        reader.close()
