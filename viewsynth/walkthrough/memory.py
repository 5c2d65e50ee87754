"""Whether a capture's job fits in memory at its working size, and the width that does.

A job's peak is a base (Python, JAX, the networks, the encoders) plus bytes per pixel of the
working size: the two decoded photos and the in-between frames of one call (float32, at most
``CALL_BYTES``), the interpolator's full-size warps and fusion, and the 360 encoder's lookahead at
the video's size (never over 8192 wide: :func:`viewsynth.export.video.level_size`). The figures
below are the process tree's measured peak RSS (garden a upscaled to the cameras' sizes, 2048 to
11968 wide: TRAINING_LOG, session 35), rounded up.

A 72 MP capture (11904x5952) needs about 12 GiB with the default method, so on a laptop with less
free the job would be killed by the system part way, after decoding and minutes of work. So
:func:`fit_memory` decides before any work: it keeps the capture's size where it fits in the
memory free (``max_memory``, else what the system says is available), else works at the largest
width that fits, with a warning (the 360 video is at most 8192 wide anyway); a width the user
chose (``capture.max_width``) that does not fit is an error that names the width that would.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from viewsynth.capture import Capture
from viewsynth.errors import ConfigError
from viewsynth.export.video import level_size
from viewsynth.walkthrough.settings import InterpolateSettings

GIB = 1 << 30
#: A call's in-between frames: at most this many bytes (float32 frames) at once, so a job's
#: memory does not grow with ``--factor``: a 5760x2880 frame is 199 MB, so ``--factor 8`` is one
#: call (7 frames) and ``--factor 16`` two.
CALL_BYTES = 3 << 29  # 1.5 GiB
#: Bytes a job holds whatever its size (Python, JAX and its compiled code, the networks).
BASE_BYTES = {"linear": 0.6 * GIB, "flow": 0.8 * GIB, "sweep": 1.2 * GIB, "rnn": 1.2 * GIB}
#: Bytes per working pixel beyond the frames of a call: the decoded pair, warps, fusion.
PIXEL_BYTES = {"linear": 40, "flow": 60, "sweep": 90, "rnn": 90}
#: Bytes per pixel of the 360 video held by its encoder (x264's lookahead, as YUV 4:2:0).
ENCODER_BYTES = 60
#: Narrower than this is no longer worth making: the job says it does not fit.
MIN_WIDTH = 1024


def job_bytes(width: int, height: int, method: str, *, factor: int, codec: str = "h264") -> int:
    """The peak bytes a job on ``width x height`` frames is expected to hold (``factor``: the
    frames per pair; ``codec``: the 360 video's)."""
    frame = width * height * 3 * 4
    held = min(max(1, factor - 1), max(1, CALL_BYTES // frame))  # a call's in-between frames
    video = level_size(width - width % 2, height - height % 2, codec)
    return int(
        BASE_BYTES[method]
        + PIXEL_BYTES[method] * width * height
        + held * frame
        + ENCODER_BYTES * video[0] * video[1]
    )


def free_bytes() -> int | None:
    """The memory a new job may take: the system's available memory (Linux ``MemAvailable``, else
    the physical memory), less where a container's limit leaves less; None when unknown."""
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            left = int(Path(limit).read_text()) - int(Path(usage).read_text())
        except (OSError, ValueError):
            continue
        free = min(free, max(0, left))
    return free


def fit_memory(
    name: str,
    size: tuple[int, int],
    method: str,
    *,
    factor: int,
    codec: str,
    budget: int | None,
    chosen_width: int = 0,
    allowed: bool = False,
) -> tuple[tuple[int, int], str]:
    """The working size a job on ``size`` (w, h) frames of capture ``name`` fits in ``budget``
    bytes, and the warning when it is smaller ('' when ``size`` fits or ``budget`` is None;
    ``allowed``: ``budget`` is the user's ``max_memory``, not the memory free).

    The largest width (a multiple of 64, aspect kept) that fits. Raises ``ConfigError`` when the
    width was the user's (``chosen_width``: ``capture.max_width``) or when not even
    :data:`MIN_WIDTH` fits: before any work, rather than a kill by the system part way.
    """
    width, height = size
    need = job_bytes(width, height, method, factor=factor, codec=codec)
    if budget is None or need <= budget:
        return size, ""

    def scaled(w: int) -> tuple[int, int]:
        return w, max(2, round(height * w / width))

    fits = next(
        (w for w in range(width - width % 64, MIN_WIDTH - 1, -64)
         if job_bytes(*scaled(w), method, factor=factor, codec=codec) <= budget),
        None,
    )  # fmt: skip
    said = (
        f"{name}: {width}x{height} frames need about {need / GIB:.1f} GiB with --method {method}, "
        f"{budget / GIB:.1f} GiB {'allowed (max_memory)' if allowed else 'free'}"
    )
    if fits is None:
        smallest = job_bytes(*scaled(MIN_WIDTH), method, factor=factor, codec=codec)
        raise ConfigError(
            f"{said} (even {MIN_WIDTH} wide needs {smallest / GIB:.1f}): free memory, or "
            "--set max_memory=GIB if it has more"
        )
    if chosen_width:
        raise ConfigError(
            f"{said}: capture.max_width={chosen_width} does not fit; --set capture.max_width="
            f"{fits} does (or --set max_memory=GIB if it has more)"
        )
    new = scaled(fits)
    return new, (
        f"{said}: working at {new[0]}x{new[1]} (--set max_memory=GIB if it has more, "
        "capture.max_width=W to choose)"
    )


def fit_capture(
    capture: Capture, settings: InterpolateSettings
) -> tuple[Capture, tuple[int, int] | None]:
    """``capture`` at the working size its job fits in memory at (:func:`fit_memory`, in
    ``settings.max_memory`` GiB, else :func:`free_bytes`), with the warning when that is smaller,
    and that size (None: the capture's own)."""
    budget = int(settings.max_memory * GIB) if settings.max_memory else free_bytes()
    size, warning = fit_memory(
        capture.source.name, capture.working_size, settings.method,
        factor=settings.factor if not settings.spacing else 1 << 20, codec=settings.codec,
        budget=budget, chosen_width=settings.capture.max_width, allowed=bool(settings.max_memory),
    )  # fmt: skip
    if not warning:
        return capture, None
    fitted = dataclasses.replace(capture, working_size=size, warnings=[*capture.warnings, warning])
    return fitted, size
