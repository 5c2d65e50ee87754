import struct

import imageio_ffmpeg
import numpy as np
import pytest

from viewsynth.errors import ViewsynthError
from viewsynth.export.mp4 import chunk_offsets, read_moov, scan_top_level, video_track
from viewsynth.export.spherical import add_spherical_metadata, ffmpeg_projection, read_spherical
from viewsynth.export.video import VideoWriter

V1_WANT = {
    "Spherical": "true",
    "Stitched": "true",
    "StitchingSoftware": "viewsynth",
    "ProjectionType": "equirectangular",
}
V2_WANT = {
    "stereo_mode": 0,
    "metadata_source": "viewsynth",
    "projection": "equirectangular",
    "pose_deg": (0.0, 0.0, 0.0),
    "bounds": (0, 0, 0, 0),
}


def _video(path, faststart=True, frames=5):
    """A tiny equirect-shaped H.264 MP4 with distinct, noisy frames (many chunks' worth)."""
    rng = np.random.default_rng(3)
    with VideoWriter(path, 10, faststart=faststart, preset="ultrafast") as writer:
        for _ in range(frames):
            writer.write(rng.random((32, 64, 3), dtype=np.float32))
    return path


def _first_and_last(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    next(reader)
    frames = [bytes(raw) for raw in reader]
    return frames[0], frames[-1], len(frames)


def test_plain_video_has_no_spherical_metadata(tmp_path):
    path = _video(tmp_path / "plain.mp4")
    assert read_spherical(path) == {"v1": None, "v2": None}
    assert ffmpeg_projection(path) is None


def test_v1_alone_is_read_by_ffmpeg(tmp_path):
    path = _video(tmp_path / "v1.mp4")
    add_spherical_metadata(path, v1=True, v2=False)
    assert read_spherical(path) == {"v1": V1_WANT, "v2": None}
    assert ffmpeg_projection(path) == "equirectangular"


def test_v2_alone_is_read_by_ffmpeg(tmp_path):
    path = _video(tmp_path / "v2.mp4")
    add_spherical_metadata(path, v1=False, v2=True)
    assert read_spherical(path) == {"v1": None, "v2": V2_WANT}
    assert ffmpeg_projection(path) == "equirectangular"
    # the RFC's place: after the codec's own boxes, before the entry's optional trailing ones
    moov = read_moov(path)[0]
    (entry,) = video_track(moov, str(path)).walk("mdia", "minf", "stbl", "stsd").children
    kinds = [box.kind for box in entry.children]
    assert "btrt" in kinds, kinds  # (what FFmpeg's H.264 entry ends with)
    assert kinds.index("avcC") < kinds.index("st3d") < kinds.index("sv3d") < kinds.index("btrt")


@pytest.mark.parametrize("faststart", [True, False])
def test_frames_and_chunk_offsets_survive_injection(tmp_path, faststart):
    path = _video(tmp_path / "walk.mp4", faststart=faststart)
    before = _first_and_last(path)
    moov_before, tops_before, _ = read_moov(path)
    offsets_before = chunk_offsets(moov_before)
    add_spherical_metadata(path)
    assert _first_and_last(path) == before
    kinds = [box.kind for box in scan_top_level(path)]
    assert (kinds.index("moov") < kinds.index("mdat")) == faststart
    moov_after, tops_after, _ = read_moov(path)
    grown = sum(b.size for b in tops_after) - sum(b.size for b in tops_before)
    assert grown > 0
    shift = grown if faststart else 0
    assert chunk_offsets(moov_after) == [[o + shift for o in t] for t in offsets_before]
    assert ffmpeg_projection(path) == "equirectangular"


def test_injection_is_idempotent_and_stripping_restores_the_file(tmp_path):
    path = _video(tmp_path / "walk.mp4")
    original = path.read_bytes()
    add_spherical_metadata(path)
    once = path.read_bytes()
    add_spherical_metadata(path)
    assert path.read_bytes() == once
    add_spherical_metadata(path, v1=False, v2=False)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.mp4"]  # no temporary left


# A hand-built MP4 skeleton: a 64-bit sized box before moov, co64 chunk offsets, and an mdat
# whose chunks can be recognised after the rewrite.


def _box(kind, payload):
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind, payload):
    return _box(kind, b"\0\0\0\0" + payload)


def _skeleton(handler=b"vide", co64=True):
    chunks = [b"CHUNK-A" * 3, b"CHUNK-B" * 5]
    ftyp = _box(b"ftyp", b"isom\0\0\x02\0isomavc1")
    big_free = struct.pack(">I4sQ", 1, b"free", 16 + 4) + b"\0" * 4  # 64-bit size on purpose
    avcc = _box(b"avcC", b"\x01\x64\x00\x1f\xff\xe0\x00")
    avc1 = _box(b"avc1", b"\0" * 6 + b"\0\x01" + b"\0" * 70 + avcc)
    stsd = _full(b"stsd", struct.pack(">I", 1) + avc1)

    def moov(offsets):
        if co64:
            table = _full(b"co64", struct.pack(">I2Q", 2, *offsets))
        else:
            table = _full(b"stco", struct.pack(">I2I", 2, *offsets))
        stbl = _box(b"stbl", stsd + table)
        hdlr = _full(b"hdlr", b"\0" * 4 + handler + b"\0" * 12 + b"Video\0")
        mdia = _box(b"mdia", hdlr + _box(b"minf", stbl))
        return _box(b"moov", _box(b"trak", mdia))

    head = ftyp + big_free
    size_of_moov = len(moov([0, 0]))
    first = len(head) + size_of_moov + 8
    offsets = [first, first + len(chunks[0])]
    data = head + moov(offsets) + _box(b"mdat", b"".join(chunks))
    return data, offsets, chunks


@pytest.mark.parametrize("co64", [True, False])
def test_synthetic_file_offsets_and_64bit_sizes(tmp_path, co64):
    data, offsets, chunks = _skeleton(co64=co64)
    path = tmp_path / "skeleton.mp4"
    path.write_bytes(data)
    add_spherical_metadata(path)
    new = path.read_bytes()
    grown = len(new) - len(data)
    moov, tops, _ = read_moov(path)
    assert [b.kind for b in tops] == ["ftyp", "free", "moov", "mdat"]
    assert tops[1].header == 16 and tops[1].size == 20  # the 64-bit box copied untouched
    (table,) = chunk_offsets(moov)
    assert table == [o + grown for o in offsets]
    for offset, chunk in zip(table, chunks, strict=True):
        assert new[offset : offset + len(chunk)] == chunk
    assert read_spherical(path) == {"v1": V1_WANT, "v2": V2_WANT}
    # Every parent's size was fixed: the tree parses to the end of each box.
    entry = moov.walk("trak", "mdia", "minf", "stbl", "stsd").children[0]
    assert [b.kind for b in entry.children] == ["avcC", "st3d", "sv3d"]


def test_not_an_mp4_is_refused_by_name(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_bytes(b"this is not a video, just some text of some length")
    with pytest.raises(ViewsynthError, match=f"^{path}: .*not an MP4"):
        add_spherical_metadata(path)
    assert path.read_bytes().startswith(b"this is not")


def test_truncated_file_is_refused(tmp_path):
    path = _video(tmp_path / "cut.mp4", faststart=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])  # moov is last: cut into it
    with pytest.raises(
        ViewsynthError, match=f"^{path}: 'moov' box claims .* not an MP4 or truncated$"
    ):
        add_spherical_metadata(path)


def test_file_without_video_track_is_refused(tmp_path):
    data, _, _ = _skeleton(handler=b"soun")
    path = tmp_path / "audio.mp4"
    path.write_bytes(data)
    with pytest.raises(ViewsynthError, match=f"^{path}: no video track in the MP4$"):
        add_spherical_metadata(path)
    assert path.read_bytes() == data
