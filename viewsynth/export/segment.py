"""The outputs of one segment of a walkthrough, written frame by frame as they are made.

    OUT/walkthrough_360[-segNN].mp4   panoramas as they are, with 360 metadata (panoramic captures)
    OUT/walkthrough[-segNN].mp4       the flat view: a rectilinear camera looking along the centre
                                      of each panorama (perspective captures: the frames themselves)
    FRAME_DIR/000000.png ...          every frame as PNG, numbered across segments (optional)

``-segNN`` is added only when a capture has several segments. The 360 video takes the codec and
width cap the user chose; the flat view is always H.264 (it is small: every player decodes it).
Each video is finished and renamed into place on :meth:`SegmentWriter.close`, or removed on
:meth:`SegmentWriter.abort`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewsynth import frames
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
    flat view of a panorama. ``frame_dir``: write PNG frames there, numbered from ``first_index``.
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
    ):
        self.panoramic = panoramic
        self.hfov, self.pitch, self.flat_size = hfov, pitch, flat_size
        self.frame_dir = frame_dir
        self.index = first_index
        self.writers: dict[str, VideoWriter] = {}
        self.projector = RectilinearProjector()
        if panoramic:
            self.writers["360"] = VideoWriter(
                out / names["360"], fps, quality, codec, max_width=max_width, spherical=True
            )
        self.writers["flat"] = VideoWriter(out / names["flat"], fps, quality)

    def write(self, image: np.ndarray) -> None:
        """One ``(H, W, 3)`` float32 frame to every output of the segment."""
        if self.panoramic:
            self.writers["360"].write(image)
            flat = self.projector.view(image, 0.0, self.pitch, self.hfov, *self.flat_size)
        else:
            flat = image
        self.writers["flat"].write(flat)
        if self.frame_dir is not None:
            frames.write_image(self.frame_dir / f"{self.index:06d}.png", image)
        self.index += 1

    def close(self) -> list[str]:
        """Finish every video; the warnings they give (resizes, sizes players may refuse)."""
        warnings = []
        for writer in self.writers.values():
            writer.close()
            warnings += writer.warnings
        return warnings

    def abort(self) -> None:
        """Remove every partial video; nothing at the output paths changes."""
        for writer in self.writers.values():
            writer.abort()
