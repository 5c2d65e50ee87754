"""The outputs of one segment of a walkthrough, written frame by frame as they are made.

    OUT/walkthrough_360[-segNN].mp4   panoramas as they are, with 360 metadata (panoramic captures)
    OUT/walkthrough[-segNN].mp4       the flat view: a rectilinear camera looking along the centre
                                      of each panorama (perspective captures: the frames themselves)
    FRAME_DIR/000000.png ...          every frame as PNG, numbered across segments (optional)

``-segNN`` is added only when a capture has several segments. The 360 video takes the codec and
width cap the user chose; the flat view is always H.264 (it is small: every player decodes it).

Both videos are encoded in pieces of ``chunk_frames`` frames (:mod:`~viewsynth.export.chunks`):
a piece is closed and renamed into ``OUT/.parts/`` as soon as its last frame is written, for both
videos at the same frame; :attr:`SegmentWriter.closed` says how many pieces are safe, for the
caller to record. A writer made with ``kept_chunks=n`` keeps the first ``n`` pieces a previous run
closed (and removes any later ones): its first frame is the first frame of piece ``n``.
:meth:`SegmentWriter.close` joins the pieces into the output videos; :meth:`SegmentWriter.abort`
stops the piece in progress and keeps finished ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from viewsynth import frames
from viewsynth.export.chunks import join_pieces, piece_path, remove_pieces
from viewsynth.export.rectilinear import RectilinearProjector
from viewsynth.export.video import VideoWriter


def segment_names(n_segments: int, seg: int, panoramic: bool) -> dict[str, str]:
    """The video file names of segment ``seg`` of ``n_segments``: ``{"flat": ..., "360": ...}``."""
    suffix = f"-seg{seg:02d}" if n_segments > 1 else ""
    names = {"flat": f"walkthrough{suffix}.mp4"}
    if panoramic:
        names["360"] = f"walkthrough_360{suffix}.mp4"
    return names


class SegmentWriter:
    """The 360 video, the flat video and the optional PNG frames of one segment.

    ``names``: from :func:`segment_names`. ``fps``, ``quality`` (CRF): both videos. ``codec``,
    ``max_width``: the 360 video. ``hfov``, ``pitch`` (degrees) and ``flat_size`` ``(w, h)``: the
    flat view of a panorama. ``frame_dir``: write PNG frames there, the segment's first frame
    numbered ``first_index``. ``chunk_frames``: frames per piece. ``kept_chunks``: pieces of a
    previous run that every video has (from piece 0 on) and that are kept; the frames they hold
    are not written again, so the first frame written is frame ``kept_chunks * chunk_frames`` of
    the segment.
    """

    def __init__(
        self,
        out: Path,
        names: dict[str, str],
        *,
        panoramic: bool,
        fps: float,
        quality: int,
        codec: str,
        max_width: int | None,
        hfov: float,
        pitch: float,
        flat_size: tuple[int, int],
        frame_dir: Path | None = None,
        first_index: int = 0,
        chunk_frames: int = 60,
        kept_chunks: int = 0,
    ):
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {chunk_frames}")
        self.out, self.names = out, dict(names)
        self.panoramic = panoramic
        self.fps, self.quality, self.codec, self.max_width = fps, quality, codec, max_width
        self.hfov, self.pitch, self.flat_size = hfov, pitch, flat_size
        self.frame_dir = frame_dir
        self.chunk_frames = chunk_frames
        for name in self.names.values():
            remove_pieces(out, name, first=kept_chunks)  # left by a killed run, or other settings
        self.position = kept_chunks * chunk_frames  # frames of this segment in pieces so far
        self.n_closed = kept_chunks  # (the last may be shorter: :meth:`finish`)
        self.index = first_index + self.position  # the next PNG's number
        self.writers: dict[str, VideoWriter] = {}  # the piece in progress, one per video
        self.warnings: list[str] = []
        self.projector = RectilinearProjector()

    @property
    def closed(self) -> int:
        """How many pieces of every video are closed (kept ones included), from piece 0 on."""
        return self.n_closed

    @property
    def closed_frames(self) -> int:
        """How many frames the closed pieces hold (the last closed may be shorter)."""
        return min(self.n_closed * self.chunk_frames, self.position)

    def finish(self) -> None:
        """Close the piece in progress, the segment's last (shorter) one: with it recorded, a run
        killed while the pieces are joined makes none of the segment's frames again."""
        if self.writers:
            self._close_piece()

    def write(self, image: np.ndarray) -> None:
        """One ``(H, W, 3)`` float32 frame to every output of the segment."""
        if not self.writers:
            self._open_piece(self.position // self.chunk_frames)
        if self.panoramic:
            self.writers["360"].write(image)
            flat = self.projector.view(image, 0.0, self.pitch, self.hfov, *self.flat_size)
        else:
            flat = image
        self.writers["flat"].write(flat)
        if self.frame_dir is not None:
            frames.write_image(self.frame_dir / f"{self.index:06d}.png", image)
        self.index += 1
        self.position += 1
        if self.position % self.chunk_frames == 0:
            self._close_piece()

    def close(
        self, post_360: Callable[[Path], None] | None = None, created: float | None = None
    ) -> list[str]:
        """Finish the last piece and join each video's pieces into its output file; the
        warnings the encodes gave (resizes, sizes players may refuse). The pieces stay until
        :meth:`clear` (after the caller has recorded the segment as done). ``created``: the
        videos' start (UTC seconds), their creation time (None: none).

        THE place where a segment's final 360 MP4 is produced: ``join_pieces`` concatenates the
        pieces, adds the spherical metadata, then runs ``post_360(tmp)`` on the joined file (the
        hook for further edits of the finished 360 MP4, e.g. a CAMM track) before the rename.
        """
        self.finish()
        n_pieces = self.n_closed
        for kind, name in self.names.items():
            pieces = [piece_path(self.out, name, c) for c in range(n_pieces)]
            join_pieces(
                pieces,
                self.out / name,
                codec=self.codec if kind == "360" else "h264",
                spherical=kind == "360",
                post=post_360 if kind == "360" else None,
                created=created,
            )
        return self.warnings

    def clear(self) -> None:
        """Delete this segment's pieces (once its videos are joined and recorded)."""
        for name in self.names.values():
            remove_pieces(self.out, name)

    def abort(self) -> None:
        """Stop the piece in progress and remove its partial files; finished pieces are kept
        for a re-run, and nothing at the output paths changes."""
        for writer in self.writers.values():
            writer.abort()
        self.writers = {}

    def _open_piece(self, chunk: int) -> None:
        piece_path(self.out, self.names["flat"], chunk).parent.mkdir(exist_ok=True)
        if self.panoramic:
            self.writers["360"] = VideoWriter(
                piece_path(self.out, self.names["360"], chunk), self.fps, self.quality,
                self.codec, max_width=self.max_width, faststart=False,
            )  # fmt: skip
        self.writers["flat"] = VideoWriter(
            piece_path(self.out, self.names["flat"], chunk), self.fps, self.quality,
            faststart=False,
        )  # fmt: skip

    def _close_piece(self) -> None:
        writers, self.writers = self.writers, {}
        try:
            for writer in writers.values():
                writer.close()
                self.warnings += [w for w in writer.warnings if w not in self.warnings]
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        self.n_closed += 1
