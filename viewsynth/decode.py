"""Every video read: its frames (:func:`iter_video`), rate and size (:func:`video_info`) and frame
times (:func:`video_times`), and what ffmpeg is told as it decodes: HDR to SDR, and only the
frames wanted. :mod:`viewsynth.frames` hands these on with the images.

**HDR video** (a phone's HLG, HDR10's PQ) is read as the SDR frames everything else works in.

iPhones record HLG (Dolby Vision 8.4's base layer) by default, and many Android phones and action
cameras offer HLG or PQ. Decoded as they are, such frames are dim and washed out: BT.2020's
primaries read as BT.709's and the HDR curve read as SDR's. A real GoPro clip carried to HDR as
a phone would record it (``tests/test_decode.py``) read 23.7 dB (HLG) and 18.6 dB (PQ) from its SDR
frames, 16-26 levels darker; converted, 43.6 and 41.7 dB (the 10-bit HEVC's own loss). Decoding
a 4K HLG video costs 1.2 times as long with the conversion (0.100 against 0.082 s a frame).

The conversion follows ITU-R BT.2408: HDR reference white (203 cd/m2, HLG's 75 % signal) becomes
SDR white. ffmpeg's ``zscale`` (libzimg, in the bundled ffmpeg) makes the light linear at that
scale, turns BT.2020's primaries into BT.709's, its ``tonemap`` (Moebius: linear up to 0.8 of
white, so what SDR holds keeps its contrast and colours) folds the highlights up to a 1000 cd/m2
peak (HLG's nominal display, and the common HDR10 mastering peak) under white, and ``zscale``
applies BT.709's curve. Which videos are HDR: the transfer ffmpeg reports for the first video
stream (``arib-std-b67``, ``smpte2084``).

**Only the frames wanted** (a job's sampled frames of a long video) leave ffmpeg: its ``select``
filter drops the others before they are turned into RGB and piped to us, which took as long as
decoding them (a 4K 60 fps H.264 clip, every 40th frame: 7.8 s against 17.9, the same frames). The
expression is a binary search over the wanted frame numbers, so each frame costs a few
comparisons however many are wanted, and it goes to ffmpeg in a file (``-/vf``; before ffmpeg 7,
``-filter_script:v``, since gone), as a command line could not hold the thousands a long video may
want.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from itertools import count
from pathlib import Path

import numpy as np

from viewsynth.errors import FrameError, one_line

#: ffmpeg's names of the HDR transfer functions -> what a user calls them.
HDR_TRANSFERS = {"arib-std-b67": "HLG", "smpte2084": "PQ"}
#: cd/m2: HDR reference white (BT.2408), taken as SDR's white.
REFERENCE_WHITE = 203.0
#: cd/m2: the brightest HDR light kept distinct (brighter clips to white).
PEAK = 1000.0
#: The ffmpeg filters from an HDR stream to SDR BT.709 RGB.
TO_SDR = (
    f"zscale=t=linear:npl={REFERENCE_WHITE:g},format=gbrpf32le,zscale=p=bt709,"
    f"tonemap=tonemap=mobius:param=0.8:peak={PEAK / REFERENCE_WHITE:.4f}:desat=0,"
    "zscale=t=bt709:m=bt709:r=pc,format=rgb24"
)


def hdr_transfer(path: str | Path) -> str | None:
    """``"HLG"`` or ``"PQ"`` when the first video stream of ``path`` is HDR, else None (also when
    ffmpeg cannot read it: the reader says so)."""
    path = Path(path).absolute()  # (ffmpeg would read a relative "a:b.mp4" as protocol "a")
    try:
        stat = path.stat()
    except OSError:
        return None
    return _transfer(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _transfer(path: str, size: int, mtime: int) -> str | None:
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path]
    info = subprocess.run(command, capture_output=True, text=True, errors="replace").stderr
    stream = next((line for line in info.splitlines() if " Video: " in line), "")
    for name, called in HDR_TRANSFERS.items():
        if re.search(rf"[(/, ]{re.escape(name)}[)/, ]", stream):
            return called
    return None


def select_frames(numbers: Sequence[int]) -> str:
    """ffmpeg's ``select`` filter passing exactly the frames ``numbers`` (sorted, distinct,
    counted from 0 as they leave the decoder): a balanced tree of ``if(lt(n, ...))`` down to runs
    of consecutive frames (``between``)."""

    def tree(lo: int, hi: int) -> str:
        if hi - lo == 1:
            return f"eq(n\\,{numbers[lo]})"
        if numbers[hi - 1] - numbers[lo] == hi - lo - 1:  # a run of consecutive frames
            return f"between(n\\,{numbers[lo]}\\,{numbers[hi - 1]})"
        mid = (lo + hi) // 2
        return f"if(lt(n\\,{numbers[mid]})\\,{tree(lo, mid)}\\,{tree(mid, hi)})"

    return f"select='{tree(0, len(numbers))}'"


def _rotation_note(record: logging.LogRecord) -> bool:
    """False for imageio-ffmpeg's warning that a rotated video (a phone held upright) reads at
    another size than its source: ffmpeg turns the frames upright, as they should be."""
    return "different from the source frame size" not in record.getMessage()


def _quiet_reader() -> None:
    """imageio-ffmpeg's reader as a job needs it: no warning for an upright phone video, and no
    ``preexec_fn`` (its own process group) for its ffmpeg, as Python code between fork and exec can
    deadlock a threaded process like a job (JAX warns of it on every video); its documented switch
    turns that off (a user's own setting wins), so Ctrl-C reaches ffmpeg too."""
    reader_log = logging.getLogger("imageio_ffmpeg")
    if _rotation_note not in reader_log.filters:
        reader_log.addFilter(_rotation_note)
    os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")


@contextmanager
def video_params(path: str | Path, numbers: Sequence[int] | None = None) -> Iterator[list[str]]:
    """ffmpeg output options for reading ``path`` (imageio's reader made quiet): every frame once
    as the file holds it, turned into SDR when HDR, and only the frames ``numbers`` (sorted,
    distinct; None: all). The filter file they name lives while the context does: ffmpeg
    reads it as it starts, so a reader made inside the context may be read after it."""
    _quiet_reader()
    params = ["-fps_mode", "passthrough"]
    # ffmpeg stops after the last frame wanted: else the end of that frame stays in its output
    # buffer until the next write, after decoding the rest of the video (5 minutes of a 1080p
    # ride, 40 s, for a segment that ends 3 minutes in)
    params += [] if numbers is None else ["-frames:v", str(len(numbers))]
    # (frames 0..N-1 need no filter)
    whole = not numbers or numbers[-1] == len(numbers) - 1
    chain = [] if whole else [select_frames(numbers)]
    chain += [TO_SDR] if hdr_transfer(path) else []
    if not chain:
        yield params
        return
    fd, script = tempfile.mkstemp(prefix="viewsynth-", suffix=".vf")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(",".join(chain))
        yield [*params, _filter_file_option(), script]
    finally:
        os.unlink(script)


def _filter_file_option() -> str:
    """How the ffmpeg in use reads the video filters from a file: ``-/vf`` from ffmpeg 7 on (the
    bundled one), ``-filter_script:v`` before (a system's ffmpeg 5 or 6 by IMAGEIO_FFMPEG_EXE)."""
    import imageio_ffmpeg

    return _option_of(imageio_ffmpeg.get_ffmpeg_exe())


@lru_cache(maxsize=8)
def _option_of(exe: str) -> str:
    import imageio_ffmpeg

    try:
        version = imageio_ffmpeg.get_ffmpeg_version()  # "7.1", "n9.0.2-17-g...", "5.1.9-0+deb12u1"
    except (OSError, subprocess.SubprocessError):  # (the reader then says what is wrong)
        return "-/vf"
    major = re.match(r"n?(\d+)\.", version)
    return "-filter_script:v" if major and int(major.group(1)) < 7 else "-/vf"


def _video_reader(path: Path, params: list[str], seek: float | None = None):
    import imageio.v2 as imageio

    try:
        # ``params`` (``decode.video_params``): each frame once (ffmpeg's constant-rate default
        # repeats a phone video's: video_times), HDR made SDR, only the frames wanted; ``seek``:
        # seconds from the first shown frame where decoding starts (ffmpeg's exact input seek)
        start = [] if seek is None else ["-ss", f"{seek:.6f}"]
        return imageio.get_reader(str(path), "ffmpeg", input_params=start, output_params=params)
    except Exception as err:  # noqa: BLE001 - imageio/ffmpeg raise assorted types for bad files
        why = one_line(err)  # imageio's line; ffmpeg's log follows it
        if "moov atom not found" in str(err):  # the MP4's index, written when recording stops
            why = "no moov atom, the MP4's index: an unfinished recording or a file cut short?"
        elif "does not contain any stream" in str(err):
            why = "no video stream in it"
        raise FrameError(f"{path}: not a readable video ({why})") from None


def video_info(path: str | Path) -> tuple[float, tuple[int, int]]:
    """``(frames per second, (width, height))`` of the video at ``path``.

    Raises ``FrameError`` naming the file if it is not a readable video or reports no rate or size.
    """
    path = Path(path)
    if not path.is_file():
        raise FrameError(f"{path}: no such file")
    if path.stat().st_size == 0:  # (ffmpeg's "moov atom not found" blamed a cut recording)
        raise FrameError(f"{path}: empty file (0 bytes)")
    with video_params(path) as params:
        reader = _video_reader(path, params)
        try:
            meta = reader.get_meta_data()
        finally:
            reader.close()
    fps = float(meta.get("fps") or 0.0)
    size = tuple(int(v) for v in meta.get("size", (0, 0)))
    if not fps > 0.0 or len(size) != 2 or min(size) <= 0:
        raise FrameError(f"{path}: video reports no frame rate or size")
    return fps, size


#: What ffmpeg prints for a packet without a timestamp (AV_NOPTS_VALUE).
_NO_TIME = -(2**63)


@dataclass(frozen=True)
class VideoTimes:
    """What a video's packets say of its frames, read without decoding (:func:`video_times`)."""

    times: tuple[float, ...]  # seconds from the first shown frame, of each frame iter_video yields
    cut: int  # frames an edit list cuts from the start: held by the file, never shown or decoded


def video_times(path: str | Path) -> VideoTimes:
    """Presentation times of the frames :func:`iter_video` yields from ``path``, in order, from the
    container's packets (a stream copy, nothing decoded; kept for the file as it is).

    Frames an edit list cuts from the start have negative times after ffmpeg's shift to 0: they
    are counted in ``cut``, not listed. A container without times for every frame (an AVI with
    B-frames) lists none: its frames are at their index over the rate. Raises ``FrameError`` naming the file when ffmpeg fails.
    """
    path = Path(path).absolute()  # (ffmpeg would read a relative "a:b.mp4" as protocol "a")
    try:
        stat = path.stat()
    except OSError as err:
        raise FrameError(f"{path}: cannot list the video's frames ({err.strerror})") from None
    return _video_times(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _video_times(path: str, size: int, mtime: int) -> VideoTimes:
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", path]
    command += ["-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]
    proc = subprocess.run(command, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
        raise FrameError(f"{path}: cannot list the video's frames ({last})")
    num, den, stamps = 1, 1, []
    for line in proc.stdout.splitlines():
        if line.startswith("#tb 0:"):  # the stream's time base, "#tb 0: 1/15360"
            num, den = (int(v) for v in line.split(":", 1)[1].split("/"))
        elif line.startswith("0,"):  # stream, dts, pts, duration, size, crc[, flags]
            stamps.append(int(line.split(",")[2]))
    if _NO_TIME in stamps:  # (AVI's B-frames: the container has no times; a constant rate)
        return VideoTimes((), 0)
    kept = sorted(s for s in stamps if s >= 0)
    times = tuple((s - kept[0]) * num / den for s in kept) if kept else ()
    return VideoTimes(times, len(stamps) - len(kept))


def iter_video(
    path: str | Path, wanted: set[int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` front to back, yielding ``(frame_index, (H, W, 3) uint8 RGB)``.

    With ``wanted`` only those frame numbers are yielded (ffmpeg passes no others on) and decoding
    stops after the last one. Where the container lists its frames' times (:func:`video_times`),
    decoding starts at the first one wanted: ffmpeg seeks to halfway between it and the frame
    before, decodes from the keyframe before that and passes on the frames from there, so a
    segment late in a long video does not decode all that comes before it again. An unreadable
    file, or a decode error mid-stream, raises ``FrameError`` naming the file (and the frame).
    """
    path = Path(path)
    if not path.is_file():
        raise FrameError(f"{path}: no such file")
    numbers = None if wanted is None else sorted(wanted)
    if numbers == []:
        return
    skip, seek = _seek(path, numbers)  # frames before the seek, and where it goes (seconds)
    passed = None if numbers is None else [n - skip for n in numbers]
    # Frame 0 always leaves ffmpeg (dropped here when not wanted): imageio waits at most 10 s for
    # ffmpeg's header, printed once a frame is through its filters (3 minutes into a 1080p video
    # is further). ffmpeg reads the filter file as it starts: it goes then, not left by a kill -9.
    passed = passed if passed is None or passed[0] == 0 else [0, *passed]
    with video_params(path, passed) as params:
        reader = _video_reader(path, params, seek)
    try:
        iterator = iter(reader)
        if numbers is not None and numbers[0] > skip and _next_frame(iterator, path, skip) is None:
            return
        for at in count() if numbers is None else numbers:
            if (frame := _next_frame(iterator, path, at)) is None:
                return
            yield at, np.asarray(frame)[..., :3]
    finally:
        reader.close()


def _seek(path: Path, numbers: Sequence[int] | None) -> tuple[int, float | None]:
    """Where to start decoding for the frames ``numbers``: ``(frames skipped, seconds)``, the
    first one wanted and halfway to it from the frame before (its time need not be exact);
    ``(0, None)`` from the start (frame 0 wanted, or no listed times: an AVI's B-frames)."""
    if not numbers or numbers[0] == 0:
        return 0, None
    try:
        times = video_times(path).times
    except FrameError:  # (the decoder then says what is wrong with the file)
        return 0, None
    first = numbers[0]
    if first >= len(times):
        return 0, None
    return first, 0.5 * (times[first - 1] + times[first])


def _next_frame(frames: Iterator, path: Path, at: int):
    """The reader's next frame (frame ``at``), None at the end; FrameError for a broken stream."""
    try:
        return next(frames)
    except StopIteration:
        return None
    except Exception as err:  # noqa: BLE001 - a broken stream: assorted errors
        raise FrameError(f"{path}: cannot decode frame {at} ({err})") from None
