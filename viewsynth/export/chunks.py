"""A long video as closed MP4 pieces, joined at the end without re-encoding.

A segment's video is encoded ``chunk_frames`` frames at a time; each piece is a complete MP4,
written to a hidden name and renamed into place when ffmpeg has finished it
(:class:`~viewsynth.export.video.VideoWriter`), so a piece that exists is whole. A killed run
loses only the piece it was writing; a re-run starts again at that piece's first frame.

The pieces live in ``OUT/.parts/`` (``.parts/walkthrough_360.00003.mp4``): one hidden folder, not
dozens of hidden files beside the outputs; nothing there is an output, and a viewer or a copy of
the output folder can skip it whole. It is on the same file system as the outputs, so the joined
file is renamed into place atomically.

:func:`join_pieces` runs ffmpeg's concat demuxer with ``-c copy``: the pictures are not decoded
or re-encoded, only remuxed (seconds for hours of video). That needs pieces with the same codec
parameters, which pieces from one writer's settings have (same encoder, size, rate, CRF, preset).
Each piece starts on a key frame, as every encode does. The timestamps of piece k+1 start where
piece k ends, so the joined video has every frame once and lasts ``frames / fps``.

Decode timestamps need one more step. An encode with reordered (B) frames starts its decode times
two frames before its first picture (x264, x265), but one of one or two frames, such as a
segment's last piece when ``frames % chunk_frames`` is 1 or 2, has none and starts them at its
first picture. Copied as they are, that left a gap in decode time before the last piece: MP4 takes
a sample's duration from it, so the frame before lasted three frames and a player or decoder at
the video's rate showed it three times (27 frames from 25). The join therefore lowers any decode
time that is more than one frame after the previous one (ffmpeg's ``setts`` filter), which closes
the gap and never puts a decode time after its picture's.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import imageio_ffmpeg

from viewsynth.errors import ViewsynthError
from viewsynth.export.spherical import add_spherical_metadata
from viewsynth.export.video import killed_by
from viewsynth.frames import part_path

PARTS_DIR = ".parts"
#: The ``setts`` filter the join runs on the copied packets: a decode timestamp is never more than
#: the previous one plus its duration (the module docstring says why; commas escaped for ``-bsf``).
_CLOSE_DTS_GAPS = (
    r"setts=pts=PTS:dts=if(eq(N\,0)\,DTS\,min(DTS\,PREV_OUTDTS+max(PREV_OUTDURATION\,1)))"
)
#: ffmpeg's MP4 tag for each codec when copying (``hvc1``, not ffmpeg's default ``hev1``: Apple).
_TAGS = {"h264": "avc1", "hevc": "hvc1"}


def piece_path(out: Path, name: str, chunk: int) -> Path:
    """Where piece ``chunk`` (from 0) of output video ``out/name`` is kept until the join."""
    stem, suffix = os.path.splitext(name)
    return out / PARTS_DIR / f"{stem}.{chunk:05d}{suffix}"


def finished_pieces(out: Path, name: str) -> int:
    """How many pieces of ``out/name`` exist in an unbroken run from piece 0."""
    n = 0
    while piece_path(out, name, n).is_file():
        n += 1
    return n


def remove_pieces(out: Path, name: str, first: int = 0) -> None:
    """Delete the pieces of ``out/name`` from piece ``first`` on (and their ``.part`` files);
    the ``.parts`` folder goes too once it is empty."""
    folder = out / PARTS_DIR
    if not folder.is_dir():
        return
    stem, suffix = os.path.splitext(name)
    pattern = re.compile(rf"\.?{re.escape(stem)}\.(\d+){re.escape(suffix)}(\.part(-\d+)?{suffix})?")
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match and int(match.group(1)) >= first:
            path.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass  # other videos' pieces are still there


def join_pieces(
    pieces: list[Path],
    path: Path,
    *,
    codec: str = "h264",
    spherical: bool = False,
    post: Callable[[Path], None] | None = None,
    created: float | None = None,
) -> None:
    """Join MP4 ``pieces`` in order into ``path`` without re-encoding; ``created``: the video's
    start as UTC seconds, its creation time (``mvhd``, ``tkhd``, ``mdhd``; None: none, zeros).

    The joined file is written aside (``frames.part_path``), given ``+faststart``, then 360
    metadata when ``spherical``, then ``post(tmp)`` (any further edit of the finished file, in
    place), and only then renamed onto ``path``. On any failure the partial file is removed and
    ``path`` is untouched; ffmpeg's first error line is in the ``ViewsynthError``.
    """
    if not pieces:
        raise ViewsynthError(f"{path}: no video pieces to join; nothing saved")
    tmp = part_path(
        path, tag=f"-{os.getpid()}"
    )  # an ffmpeg left over from a killed run keeps its own
    # a join killed before its rename left its whole video aside: the caller holds the folder
    # (one run at a time), so any such file is a leftover (an orphaned ffmpeg writes on unlinked)
    for left in path.parent.glob(part_path(path, tag="-*").name):
        left.unlink(missing_ok=True)
    # The list of pieces goes to the system's temporary folder: never a stray in the output.
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        for piece in pieces:
            quoted = str(piece.resolve()).replace("'", "'\\''")
            fh.write(f"file '{quoted}'\n")
        listing = Path(fh.name)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v", "-c", "copy"]
    cmd += ["-bsf:v", _CLOSE_DTS_GAPS]
    if created is not None:
        when = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cmd += ["-metadata", f"creation_time={when}"]
    cmd += ["-tag:v", _TAGS.get(codec, "avc1"), "-movflags", "+faststart", "-f", "mp4"]
    cmd += [str(tmp.absolute())]  # (not "-x/..." to ffmpeg, an option, nor "a:b/...", a protocol)
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
            message = re.sub(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", lines[0]) if lines else ""
            message = message or (
                killed_by(-proc.returncode) if proc.returncode < 0 else "no message"
            )
            raise ViewsynthError(f"{path}: joining {len(pieces)} pieces failed: {message}")
        if spherical:
            add_spherical_metadata(tmp)
        if post is not None:
            post(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        listing.unlink(missing_ok=True)
