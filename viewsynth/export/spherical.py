"""360 metadata for an encoded MP4: Google's Spherical Video V1 and V2 boxes, written by us.

Players treat an MP4 as 360 only when it carries spherical metadata; no FFmpeg option or
maintained package writes it, so it is added after encoding by editing the box tree
(:mod:`viewsynth.export.mp4`):

- V1 (Spherical Video RFC): a ``uuid`` box with user type ffcc8263-f855-4a93-8814-587a02521fdd at
  the end of the video ``trak``, holding GSpherical RDF/XML (Spherical, Stitched,
  StitchingSoftware, ProjectionType=equirectangular). Older players and YouTube read this one.
- V2 (Spherical Video V2 RFC): ``st3d`` (stereo mode 0 = mono) and
  ``sv3d{svhd, proj{prhd, equi}}`` at the end of the video sample entry (``avc1``, ``hvc1``, ...).
  ``svhd`` is required by FFmpeg's parser; ``prhd`` holds the pose (16.16 degrees, all zero) and
  ``equi`` the projection bounds (0.32 fixed point, all zero = the full sphere).

Writing replaces whatever spherical metadata the file already had, so it is idempotent.
"""

from __future__ import annotations

import re
import struct
import subprocess
import uuid
from pathlib import Path

import imageio_ffmpeg

from viewsynth.errors import ViewsynthError
from viewsynth.export.mp4 import VISUAL_ENTRIES, Box, full_box, read_moov, rewrite_moov, video_track

SPHERICAL_UUID = uuid.UUID("ffcc8263-f855-4a93-8814-587a02521fdd")
SOFTWARE = "viewsynth"

_V1_XML = (
    '<?xml version="1.0"?>'
    '<rdf:SphericalVideo xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/">'
    "<GSpherical:Spherical>true</GSpherical:Spherical>"
    "<GSpherical:Stitched>true</GSpherical:Stitched>"
    f"<GSpherical:StitchingSoftware>{SOFTWARE}</GSpherical:StitchingSoftware>"
    "<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType>"
    "</rdf:SphericalVideo>"
)
_PROJECTIONS = {"equi": "equirectangular", "cbmp": "cubemap", "mshp": "mesh"}
#: A visual sample entry's optional boxes that end it (ISO/IEC 14496-12): V2's go before them.
_TRAILING = ("pasp", "clap", "btrt")


def add_spherical_metadata(path: str | Path, v1: bool = True, v2: bool = True) -> None:
    """Mark the MP4 at ``path`` as a mono equirectangular 360 video, in place.

    ``v1``: the GSpherical ``uuid`` box in the video track; ``v2``: ``st3d`` and ``sv3d`` in the
    video sample entry. Existing spherical boxes are replaced (``v1=v2=False`` strips them). The
    file is rewritten aside and renamed into place; chunk offsets are shifted when ``moov``
    precedes ``mdat``. Raises ``ViewsynthError`` naming the file if it is not a usable MP4.
    """
    path = Path(path)

    def edit(moov: Box) -> None:
        trak = video_track(moov, str(path))
        trak.children = [box for box in trak.children or [] if not _is_v1(box)]
        if v1:
            trak.children.append(Box("uuid", data=SPHERICAL_UUID.bytes + _V1_XML.encode()))
        entries = _visual_entries(trak, str(path))
        for entry in entries:
            kept = [b for b in entry.children or [] if b.kind not in ("st3d", "sv3d")]
            # the RFC places them before the entry's optional trailing boxes (as FFmpeg writes)
            at = next((i for i, b in enumerate(kept) if b.kind in _TRAILING), len(kept))
            entry.children = kept[:at] + (_v2_boxes() if v2 else []) + kept[at:]

    rewrite_moov(path, edit)


def _is_v1(box: Box) -> bool:
    return box.kind == "uuid" and box.data[:16] == SPHERICAL_UUID.bytes


def _visual_entries(trak: Box, source: str) -> list[Box]:
    entries = _known_entries(trak)
    if not entries:
        raise ViewsynthError(
            f"{source}: the video track has no sample entry of a known codec {VISUAL_ENTRIES}"
        )
    return entries


def _known_entries(trak: Box) -> list[Box]:
    """The track's sample entries of the codecs whose boxes are read (``VISUAL_ENTRIES``)."""
    stsd = trak.walk("mdia", "minf", "stbl", "stsd")
    return [box for box in (stsd.children if stsd else None) or [] if box.kind in VISUAL_ENTRIES]


def _v2_boxes() -> list[Box]:
    st3d = full_box("st3d", struct.pack(">B", 0))
    svhd = full_box("svhd", SOFTWARE.encode() + b"\0")
    prhd = full_box("prhd", struct.pack(">iii", 0, 0, 0))
    equi = full_box("equi", struct.pack(">IIII", 0, 0, 0, 0))
    proj = Box("proj", children=[prhd, equi])
    return [st3d, Box("sv3d", children=[svhd, proj])]


def read_spherical(path: str | Path) -> dict:
    """What spherical metadata ``path`` carries: ``{"v1": dict | None, "v2": dict | None}``.

    ``v1`` maps each GSpherical tag to its text (``{"Spherical": "true", ...}``). ``v2`` has
    ``stereo_mode`` (int or None without ``st3d``), ``metadata_source``, ``projection``
    (``equirectangular``, ``cubemap``, ``mesh`` or None), ``pose_deg`` (yaw, pitch, roll) and
    ``bounds`` (top, bottom, left, right as 0.32 fixed-point integers, equirect only).
    """
    path = Path(path)
    moov, _, _ = read_moov(path)
    trak = video_track(moov, str(path))
    v1 = None
    for box in trak.children or []:
        if _is_v1(box):
            xml = box.data[16:].decode("utf-8", errors="replace")
            v1 = dict(re.findall(r"<GSpherical:(\w+)>([^<]*)</GSpherical:\1>", xml))
    v2 = None
    for entry in _known_entries(trak):  # (another codec, mp4v of an AVI remuxed: no V2 read)
        st3d, sv3d = entry.child("st3d"), entry.child("sv3d")
        if st3d is None and sv3d is None:
            continue
        v2 = {"stereo_mode": st3d.data[4] if st3d is not None and len(st3d.data) > 4 else None}
        v2.update(metadata_source=None, projection=None, pose_deg=None, bounds=None)
        if sv3d is not None:
            svhd = sv3d.child("svhd")
            if svhd is not None:
                v2["metadata_source"] = svhd.data[4:].split(b"\0")[0].decode("utf-8", "replace")
            proj = sv3d.child("proj")
            for box in (proj.children if proj else None) or []:
                if box.kind == "prhd" and len(box.data) >= 16:
                    yaw, pitch, roll = struct.unpack(">iii", box.data[4:16])
                    v2["pose_deg"] = (yaw / 65536.0, pitch / 65536.0, roll / 65536.0)
                elif box.kind in _PROJECTIONS:
                    v2["projection"] = _PROJECTIONS[box.kind]
                    if box.kind == "equi" and len(box.data) >= 20:
                        v2["bounds"] = struct.unpack(">IIII", box.data[4:20])
        break
    return {"v1": v1, "v2": v2}


def ffmpeg_projection(path: str | Path) -> str | None:
    """The projection FFmpeg reports for the video stream of ``path`` (``"equirectangular"``), or None.

    Runs the ffmpeg bundled with imageio-ffmpeg (``ffmpeg -i FILE``) and reads the stream's side
    data, which FFmpeg 7+ words "Spherical Mapping: equirectangular" and older versions
    "spherical: equirectangular"; both match. None when FFmpeg reports no spherical mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ViewsynthError(f"{path}: no such file")
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    # Without an output file ffmpeg exits with status 1 after printing the stream info: expected.
    run = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-i", str(path.absolute())],  # ("a:b.mp4": protocol a)
        capture_output=True,
        text=True,
        errors="replace",
    )
    side_data_indent = None  # indentation of the "Side data:" line while inside that block
    for line in run.stderr.splitlines():
        indent = len(line) - len(line.lstrip())
        if line.strip().lower().startswith("side data"):
            side_data_indent = indent
            continue
        if side_data_indent is not None and indent <= side_data_indent:
            side_data_indent = None
        if side_data_indent is None:
            continue
        match = re.search(r"spherical[^:]*:\s*([A-Za-z_-]+)", line, flags=re.IGNORECASE)
        if match:
            return match.group(1).lower()
    return None
