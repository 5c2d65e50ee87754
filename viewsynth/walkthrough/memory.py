"""Whether a capture's job fits in memory at its working size, and the width that does.

A job's peak is a base (Python, JAX, the networks, the encoders) plus bytes per pixel of the
working size: the two decoded photos and the in-between frames of one call (float32, at most
``CALL_BYTES``), the interpolator's full-size warps and fusion, and the 360 encoder's lookahead at
the video's size (never over 8192 wide: :func:`viewsynth.export.video.level_size`). The figures
below are fitted to the process tree's peak RSS (Python and both ffmpegs; garden a upscaled to the
cameras' sizes, 2048 to 11968 wide, ``--factor 8``: TRAINING_LOG, sessions 35 and 36) and rounded
up: the estimate was 0.2-1.3 GiB above each of 12 measured peaks of ``rnn`` and ``flow``, 0.2-1.0
above each of 8 of ``sweep`` and ``linear``.

A 72 MP capture (11968x5984) peaked at 9.7 GiB with the default method (12.0 before its video
was capped at 8192 wide), so on an 8 GB laptop the system would kill the job part way, after
minutes of work. So :func:`fit_memory` decides before any work: it keeps the capture's size where
it fits in the budget, else works at the largest width that fits, with a warning (the 360 video is
at most 8192 wide anyway); a width the user chose (``capture.max_width``) that does not fit is an
error that names the width that would. The budget (:func:`budget_bytes`) is ``max_memory``, else
:data:`MACHINE_SHARE` of the machine's memory (:func:`machine_bytes`): a property of the machine,
not of the moment or of how many captures run beside it, so the same capture gets the same frames
on either runner and a re-run resumes. It is the memory of a run's captures on a machine
together: the Ray runner's captures on one machine wait for each other's memory
(``runners.gate``) rather than each work narrower. Where less than the job needs is available
just now (other programs), :func:`short_now` says so and changes nothing.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from viewsynth.capture import Capture
from viewsynth.capture.schedule import video_pace
from viewsynth.errors import ConfigError
from viewsynth.export.video import level_size, output_size
from viewsynth.walkthrough.settings import InterpolateSettings

GIB = 1 << 30
#: A call's in-between frames: at most this many bytes (float32 frames) at once, so a job's
#: memory does not grow with ``--factor``: a 5760x2880 frame is 199 MB, so ``--factor 8`` is one
#: call (7 frames) and ``--factor 16`` two.
CALL_BYTES = 3 << 29  # 1.5 GiB
#: Bytes a job holds whatever its size (Python, JAX and its compiled code, the networks), fitted
#: to each method's peaks and rounded up, as are the two figures below.
BASE_BYTES = {"linear": 0.8 * GIB, "flow": 0.5 * GIB, "sweep": 1.0 * GIB, "rnn": 1.1 * GIB}
#: Bytes per working pixel: the decoded pair, the warps and fusion at full size (fitted: rnn 83,
#: flow 112; the sweep's depth and renders at full size, 95; the cross-fade's pair, 40).
PIXEL_BYTES = {"linear": 40, "flow": 120, "sweep": 95, "rnn": 90}
#: Bytes per pixel of each in-between frame of a call (fitted: rnn 15, flow 18). The cross-fade
#: holds its temporaries, three frames' worth, at once (32); the sweep its renders (30).
HELD_BYTES = {"linear": 32, "flow": 20, "sweep": 30, "rnn": 20}
#: Bytes per pixel of the 360 video held by its encoder, x264's lookahead (fitted: 68).
ENCODER_BYTES = 70
#: Bytes per pixel of a photo decoded larger than the working size, before it is resized
#: (uint8 and float32 RGB).
DECODE_BYTES = 15
#: Narrower than this is no longer worth making: the job says it does not fit.
MIN_WIDTH = 1024


def job_bytes(
    width: int,
    height: int,
    method: str,
    *,
    factor: int,
    codec: str = "h264",
    decoded: int = 0,
    video_width: int = 0,
) -> int:
    """The peak bytes a job on ``width x height`` frames is expected to hold (``factor``: the
    frames per pair; ``codec``: the 360 video's; ``decoded``: the pixels of the largest photo,
    when decoded larger than that and resized; ``video_width``: ``max_video_width``, 0 none)."""
    frame = width * height * 3 * 4
    larger = DECODE_BYTES * decoded if decoded > width * height else 0
    held = min(max(1, factor - 1), max(1, CALL_BYTES // frame))  # a call's in-between frames
    video = level_size(*output_size(width, height, video_width or None), codec)  # (the writer's)
    return int(
        BASE_BYTES[method]
        + PIXEL_BYTES[method] * width * height
        + HELD_BYTES[method] * held * width * height
        + ENCODER_BYTES * video[0] * video[1]
        + larger
    )


#: The part of the machine's memory (or a container's limit) a job may plan on; the rest is for
#: the system and the programs beside it.
MACHINE_SHARE = 0.75


def machine_bytes() -> int | None:
    """The machine's memory: the physical memory, less where a container's limit (cgroup v2
    ``memory.max``, v1 ``memory.limit_in_bytes``) is lower; None when unknown."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            total = min(total, int(Path(limit).read_text()))
        except (OSError, ValueError):  # ("max": no limit)
            continue
    return total


def budget_bytes(max_memory: float) -> int | None:
    """The bytes a run's captures on this machine may plan on together: ``max_memory`` GiB, else
    :data:`MACHINE_SHARE` of :func:`machine_bytes` (None: unknown, no limit)."""
    if max_memory:
        return int(max_memory * GIB)
    machine = machine_bytes()
    return int(machine * MACHINE_SHARE) if machine else None


def available_bytes() -> int | None:
    """The memory available just now (Linux ``MemAvailable``: free plus what the page cache gives
    back); None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


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
    decoded: int = 0,
    video_width: int = 0,
    path: str = "",
) -> tuple[tuple[int, int], str]:
    """The working size a job on ``size`` (w, h) frames of capture ``name`` fits in ``budget``
    bytes, and the warning when it is smaller ('' when ``size`` fits or ``budget`` is None;
    ``allowed``: ``budget`` is the user's ``max_memory``, not the machine's share; ``decoded``:
    the pixels of the capture's largest frame, decoded before it is resized; ``video_width``:
    ``max_video_width``; ``path``: the capture's folder or video, which an error names).

    The largest width (a multiple of 64, aspect kept) that fits. Raises ``ConfigError`` when the
    width was the user's (``chosen_width``: ``capture.max_width``) or when not even
    :data:`MIN_WIDTH` fits: before any work, rather than a kill by the system part way.
    """
    width, height = size
    kw = dict(factor=factor, codec=codec, decoded=decoded, video_width=video_width)
    need = job_bytes(width, height, method, **kw)
    if budget is None or need <= budget:
        return size, ""

    def scaled(w: int) -> tuple[int, int]:
        return w, max(2, round(height * w / width))

    fits = next(
        (w for w in range(width - width % 64, MIN_WIDTH - 1, -64)
         if job_bytes(*scaled(w), method, **kw) <= budget),
        None,
    )  # fmt: skip
    whose = "allowed (max_memory)" if allowed else f"({MACHINE_SHARE:.0%} of this machine's)"
    said = (
        f"{width}x{height} frames need about {need / GIB:.1f} GiB with --method {method}, "
        f"{budget / GIB:.1f} GiB {whose}"
    )
    if fits is None:
        smallest = job_bytes(*scaled(MIN_WIDTH), method, **kw)
        raise ConfigError(
            f"{path or name}: {said} (even {MIN_WIDTH} wide needs {smallest / GIB:.1f}): "
            "--set max_memory=GIB if it has more"
        )
    if chosen_width:
        raise ConfigError(
            f"{path or name}: {said}: capture.max_width={chosen_width} does not fit; "
            f"--set capture.max_width={fits} does (or --set max_memory=GIB if it has more)"
        )
    new = scaled(fits)
    return new, (
        f"{name}: {said}: working at {new[0]}x{new[1]} (--set max_memory=GIB if it has more, "
        "capture.max_width=W to choose)"
    )


def fit_capture(
    capture: Capture, settings: InterpolateSettings
) -> tuple[Capture, tuple[int, int] | None, int]:
    """``capture`` at the working size its job fits in memory at (:func:`fit_memory`, in
    :func:`budget_bytes`), with the warning when that is smaller; that size (None: the capture's
    own); and the job's expected peak bytes at it (for :func:`short_now`)."""
    budget = budget_bytes(settings.max_memory)
    decoded = max(w * h for segment in capture.segments for (w, h) in (s.size for s in segment))
    factor = settings.factor  # (a variable rate's slow part: more frames to a pair)
    if pace := video_pace(capture, settings.capture_options(capture.source), factor):
        pairs = [p for segment in capture.segments for p in zip(segment, segment[1:], strict=False)]
        factor = max(pace.steps(a, b, settings.factor) for a, b in pairs)
    kw = dict(factor=factor if not settings.spacing else 1 << 20, codec=settings.codec,
              decoded=decoded, video_width=settings.max_video_width or 0)  # fmt: skip
    size, warning = fit_memory(
        capture.source.name, capture.working_size, settings.method, budget=budget,
        chosen_width=settings.capture.max_width, allowed=bool(settings.max_memory),
        path=str(capture.source), **kw,
    )  # fmt: skip
    need = job_bytes(*size, settings.method, **kw)
    if not warning:
        return capture, None, need
    warnings = [*capture.warnings, warning]
    return dataclasses.replace(capture, working_size=size, warnings=warnings), size, need


def short_now(name: str, need: int) -> str:
    """The warning when less than a job's ``need`` bytes is available just now ('' when enough
    or unknown): it changes nothing. Asked as the job starts its work, after any wait for the
    memory of the captures beside it (which would otherwise be taken for other programs)."""
    now = available_bytes()
    if now is None or now >= need:
        return ""
    return (
        f"{name}: the job needs about {need / GIB:.1f} GiB and {now / GIB:.1f} GiB is available "
        "just now: close other programs, or --set capture.max_width=W for a narrower job"
    )
