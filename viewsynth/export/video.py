"""Streaming MP4 writer: RGB frames in, an H.264 or HEVC MP4 out, one frame in memory at a time.

Frames are piped as raw RGB24 to the ffmpeg that imageio-ffmpeg bundles (``libx264`` or
``libx265``, CRF quality, ``yuv420p`` tagged BT.709, ``-movflags +faststart`` so players can start
before the whole file has arrived). We drive ffmpeg ourselves rather than through
``imageio_ffmpeg.write_frames``: that generator never looks at ffmpeg's exit status and lets
ffmpeg print to our stderr, so a failed encode would pass silently.

Sizes. 4:2:0 chroma needs even width and height. An odd size is resized (area-averaged) to the
even size just below it; it is never padded or cropped, because padding a panorama's width would
put a strip of non-picture at the seam and cropping would lose longitude. Area averaging when
shrinking never samples past the image edge, so the seam stays exact. (imageio's own writer
would instead silently rescale to a multiple of 16.) ``max_width`` caps the size, keeping aspect.

Levels. H.264 level 5.2, which most hardware decoders and players handle, stops at 36864
macroblocks a frame (about 4096x2304); HEVC level 5.1 stops at 8,912,896 luma samples (4096x2176).
Larger frames, such as a 5760x2880 panorama, still encode (at level 6), but many players will
not decode them: :func:`size_warning` says so and the writer lists it in ``warnings``; the cure is
``max_video_width=4096`` (or HEVC, which the 360 cameras themselves use at 5.7K). Level 6.2 (H.264:
139264 macroblocks; HEVC: 35,651,584 luma samples; about 8192x4320) is H.264's highest and what
8K players and decoders implement (NVIDIA's NVDEC stops at 8192 a side for HEVC). Past it the
encoders still write a 72 MP panorama (11904x5952): libx264 labels it level 6.2 at twice that
level's frame size, libx265 level 6.3. So :func:`level_size` caps every video at level 6.2 and
8192 a side, aspect kept, with a warning; ``--frames`` keeps the frames whole.

The output is written to a hidden name in the same folder (``frames.part_path``) and renamed into
place only once ffmpeg has finished successfully: no half-written video ever sits at the output
path. (The encode outlives any one call, so it does not fit ``frames.atomic_write``'s ``with``.)
"""

from __future__ import annotations

import math
import numbers
import os
import re
import signal
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import cv2
import imageio_ffmpeg
import numpy as np

from viewsynth.errors import ConfigError, FrameError, ViewsynthError
from viewsynth.export.spherical import add_spherical_metadata
from viewsynth.frames import part_path, to_uint8

CODECS = {"h264": ("libx264", "avc1"), "hevc": ("libx265", "hvc1")}
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")
#: Speed presets that libx264 and libx265 both know, fastest first.
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
#: H.264 level 5.2: at most 36864 16x16 macroblocks per frame, each side at most sqrt(8 * that).
_H264_MAX_MACROBLOCKS = 36864
#: HEVC level 5.1: at most this many luma samples per frame, each side at most sqrt(8 * that).
_HEVC_MAX_LUMA = 8_912_896
#: Level 6.2 (H.264 macroblocks, HEVC luma samples): no video is encoded beyond.
_H264_TOP_MACROBLOCKS = 139_264
_HEVC_TOP_LUMA = 35_651_584
#: The longest side written: level 6.2's 8192x4320, where 8K decoders stop.
MAX_SIDE = 8192


def output_size(width: int, height: int, max_width: int | None = None) -> tuple[int, int]:
    """The ``(width, height)`` a ``width x height`` frame is encoded at.

    Capped to ``max_width`` (aspect kept), then each side rounded down to even (2 at least).
    """
    if max_width is not None and width > max_width:
        height = max(1, round(height * max_width / width))
        width = max_width
    return max(2, width - width % 2), max(2, height - height % 2)


def _in_top_level(width: int, height: int, codec: str) -> bool:
    if max(width, height) > MAX_SIDE:
        return False
    if codec == "hevc":
        return width * height <= _HEVC_TOP_LUMA
    return math.ceil(width / 16) * math.ceil(height / 16) <= _H264_TOP_MACROBLOCKS


def level_size(width: int, height: int, codec: str = "h264") -> tuple[int, int]:
    """The even ``(width, height)`` a video of a ``width x height`` (even) frame is encoded at: as
    is when ``codec``'s highest level (6.2) holds it and no side passes :data:`MAX_SIDE`, else the
    largest even size of its aspect that does (11904x5952 -> 8192x4096)."""
    w = min(width, MAX_SIDE * width // max(width, height))
    while w > 2 and not _in_top_level(*output_size(width, height, w), codec):
        w -= 2
    return output_size(width, height, w)


def size_warning(width: int, height: int, codec: str = "h264") -> str | None:
    """A sentence for the user when ``width x height`` exceeds what most players decode, else None."""
    if codec == "h264":
        blocks = math.ceil(width / 16) * math.ceil(height / 16)
        side = math.sqrt(8 * _H264_MAX_MACROBLOCKS) * 16
        if blocks > _H264_MAX_MACROBLOCKS or max(width, height) > side:
            return (
                f"{width}x{height} exceeds H.264 level 5.2 (about 4096x2304): many players and "
                "phones will not play it; use --set max_video_width=4096 or --set codec=hevc"
            )
    elif codec == "hevc":
        side = math.sqrt(8 * _HEVC_MAX_LUMA)
        if width * height > _HEVC_MAX_LUMA or max(width, height) > side:
            return (
                f"{width}x{height} exceeds HEVC level 5.1 (about 4096x2176): it needs a player "
                "that decodes HEVC level 6; use --set max_video_width=4096 for the widest support"
            )
    return None


class VideoWriter:
    """Write ``(H, W, 3)`` RGB frames (float32 in [0, 1] or uint8) to an MP4, streaming.

    Use as a context manager; ``write`` one frame at a time. Every frame must have the size of
    the first. On a clean exit the file is finished (and, with ``spherical=True``, marked as a
    360 video) and renamed to ``path``; on an exception the partial file is removed.

    Args:
        path: output ``.mp4`` / ``.m4v`` / ``.mov``; its folder must exist.
        fps: frames per second (e.g. 30 or 30000/1001 as a ``Fraction``).
        quality: CRF, 1 (best) to 51; 18 is visually transparent for H.264. 0 is lossless luma
            but makes an H.264 High 4:4:4 stream that few players decode.
        codec: ``"h264"`` (libx264, plays everywhere) or ``"hevc"`` (libx265, tagged ``hvc1``).
        max_width: cap the encoded width (aspect kept), e.g. 4096 for H.264 level 5.2.
        faststart: put the index (``moov``) before the pictures so playback starts at once.
        spherical: add 360 metadata (V1 and V2) for equirectangular frames.
        preset: x264/x265 speed preset, one of ``PRESETS`` (slower = smaller file).

    After the first frame, ``size`` is the encoded ``(width, height)`` and ``warnings`` lists what
    the caller should tell the user (a resize, a size beyond common player limits).
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        quality: int = 18,
        codec: str = "h264",
        *,
        max_width: int | None = None,
        faststart: bool = True,
        spherical: bool = False,
        preset: str = "medium",
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise ConfigError(f"{self.path}: video output must end in one of {VIDEO_SUFFIXES}")
        if not self.path.parent.is_dir():
            raise ViewsynthError(f"{self.path}: folder {self.path.parent} does not exist")
        if codec not in CODECS:
            raise ConfigError(f"{self.path}: codec must be one of {tuple(CODECS)}, got {codec!r}")
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise ConfigError(f"{self.path}: fps must be a positive number, got {fps!r}")
        if not (isinstance(quality, numbers.Integral) and 0 <= quality <= 51):
            raise ConfigError(
                f"{self.path}: quality (CRF) must be an integer 0..51, got {quality!r}"
            )
        if preset not in PRESETS:
            raise ConfigError(f"{self.path}: preset must be one of {PRESETS}, got {preset!r}")
        if max_width is not None and max_width < 2:
            raise ConfigError(f"{self.path}: max_width must be at least 2, got {max_width}")
        self.fps = Fraction(fps).limit_denominator(1_000_000)
        self.quality = int(quality)
        self.codec = codec
        self.max_width = max_width
        self.faststart = faststart
        self.spherical = spherical
        self.preset = preset
        self.frames_written = 0
        self.size: tuple[int, int] | None = None
        self.warnings: list[str] = []
        self._input_shape: tuple[int, int] | None = None
        # ffmpeg writes here, renamed onto path by close(); the pid keeps an ffmpeg orphaned by a
        # killed run (it still flushes its frames after the run died) off this run's file.
        self._tmp = part_path(self.path, tag=f"-{os.getpid()}")
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Encode one ``(H, W, 3)`` RGB frame, float in [0, 1] or uint8."""
        if self._closed:
            raise ViewsynthError(f"{self.path}: write after the video was closed")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise FrameError(f"{self.path}: frame must be (H, W, 3) RGB, got shape {frame.shape}")
        if frame.dtype != np.uint8:
            frame = to_uint8(frame)
        h, w = frame.shape[:2]
        if self._input_shape is None:
            self._start(w, h)
        elif (h, w) != self._input_shape:
            raise FrameError(
                f"{self.path}: frame {self.frames_written} is {w}x{h} but the video is "
                f"{self._input_shape[1]}x{self._input_shape[0]}"
            )
        if (w, h) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except (BrokenPipeError, OSError):
            try:  # (its log and status are whole only once it has exited, a moment later)
                status = self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                status = None
            message = self._ffmpeg_error(status)
            self.abort()
            raise ViewsynthError(f"{self.path}: ffmpeg stopped while encoding: {message}") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the encode, add metadata, rename into place. Raises and removes on failure."""
        if self._closed:
            return
        if self._proc is None:
            self.abort()
            raise ViewsynthError(f"{self.path}: no frames were written; nothing saved")
        try:
            self._proc.stdin.close()
        except OSError:
            pass  # ffmpeg already gone: its exit status below says why.
        status = self._proc.wait()
        if status != 0:
            message = self._ffmpeg_error(status)
            self.abort()
            raise ViewsynthError(f"{self.path}: ffmpeg failed (exit {status}): {message}")
        try:
            if self.spherical:
                add_spherical_metadata(self._tmp)
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._cleanup()

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file; ``path`` is left untouched."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._tmp.unlink(missing_ok=True)
        self._cleanup()

    def _cleanup(self) -> None:
        self._closed = True
        if self._proc is not None and self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def _start(self, width: int, height: int) -> None:
        self._input_shape = (height, width)
        self.size = output_size(width, height, self.max_width)
        why = "capped by max_video_width" if self.max_width and width > self.max_width else "even"
        if (top := level_size(*self.size, self.codec)) != self.size:
            name = "H.264" if self.codec == "h264" else "HEVC"
            why = (
                f"{self.size[0]}x{self.size[1]} is past {name} level 6.2 (about 8192x4320), "
                "where players and decoders stop; --frames writes the frames whole"
            )
            self.size = top
        if self.size != (width, height):
            self.warnings.append(
                f"frames of {width}x{height} encoded at {self.size[0]}x{self.size[1]} ({why})"
            )
        too_big = size_warning(*self.size, self.codec)
        if too_big:
            self.warnings.append(too_big)
        # ffmpeg's log goes to a file: a pipe nobody reads could fill up and stall the encode.
        self._log = tempfile.TemporaryFile()
        self._tmp.unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def _command(self) -> list[str]:
        encoder, tag = CODECS[self.codec]
        w, h = self.size
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(self.fps)]
        cmd += ["-i", "pipe:0", "-an"]
        # Convert with the BT.709 matrix and say so: players assume it for HD sizes, and an
        # untagged BT.601 conversion shifts colours.
        convert = "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic+accurate_rnd"
        tags = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
        cmd += ["-vf", f"{convert},format=yuv420p,{tags}"]
        cmd += ["-c:v", encoder, "-preset", self.preset, "-crf", str(self.quality)]
        cmd += ["-pix_fmt", "yuv420p", "-tag:v", tag]
        if self.codec == "hevc":
            cmd += ["-x265-params", "log-level=error"]
        if self.faststart:
            cmd += ["-movflags", "+faststart"]
        # Absolute: ffmpeg reads a relative "-x/..." as an option and "a:b/..." as protocol "a".
        cmd += ["-f", "mp4", str(self._tmp.absolute())]
        return cmd

    def _ffmpeg_error(self, status: int | None = None) -> str:
        """The first line ffmpeg logged (the cause; later lines are consequences), one line; else
        the signal that stopped it (exit ``status`` -N), which leaves no log."""
        if self._log is None:
            return "no log"
        self._log.seek(0)
        for line in self._log.read().decode(errors="replace").splitlines():
            # Drop ffmpeg's "[component @ 0x...]" prefixes, which mean nothing to a user.
            line = re.sub(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", line).strip()
            if line:
                return line
        if status is not None and status < 0:
            return killed_by(-status)
        return "no message"


def killed_by(signum: int) -> str:
    """What stopped a process that signal ``signum`` ended, in words (such a process logs nothing):
    SIGXFSZ, the file size limit of ``ulimit -f``, is said in full."""
    if signum == signal.SIGXFSZ:
        return "killed by SIGXFSZ: the file grew past the file size limit (ulimit -f)"
    try:
        return f"killed by {signal.Signals(signum).name}"
    except ValueError:
        return f"killed by signal {signum}"
