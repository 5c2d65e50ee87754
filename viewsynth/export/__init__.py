"""The back of the pipeline: frames out to MP4, 360 metadata, rectilinear views of panoramas.

- :mod:`~viewsynth.export.segment`: :class:`SegmentWriter`, the videos (360 and flat) and PNG
  frames of one segment of a walkthrough, fed one frame at a time.
- :mod:`~viewsynth.export.video`: :class:`VideoWriter`, a streaming H.264/HEVC MP4 writer.
- :mod:`~viewsynth.export.spherical`: Spherical Video V1/V2 boxes written into a finished MP4.
- :mod:`~viewsynth.export.camm`: a CAMM GPS track (one position per frame) added to a finished MP4.
- :mod:`~viewsynth.export.gpx`: the output frames' positions and times as a GPX 1.1 track.
- :mod:`~viewsynth.export.rectilinear`: ordinary-camera views cut out of an equirect panorama.
- :mod:`~viewsynth.export.mp4`: the minimal MP4 box tree the metadata editor works on.
"""

from viewsynth.export.rectilinear import RectilinearProjector, rectilinear_view
from viewsynth.export.segment import SegmentWriter, segment_names
from viewsynth.export.spherical import add_spherical_metadata, ffmpeg_projection, read_spherical
from viewsynth.export.video import VideoWriter, output_size, size_warning

__all__ = [
    "RectilinearProjector",
    "SegmentWriter",
    "VideoWriter",
    "add_spherical_metadata",
    "ffmpeg_projection",
    "output_size",
    "read_spherical",
    "rectilinear_view",
    "segment_names",
    "size_warning",
]
