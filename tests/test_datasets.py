"""Dataset layouts, leave-one-out selection, rolling, and the generated sets."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from viewsynth import synth
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation import datasets as ds
from viewsynth.evaluation import sets
from viewsynth.frames import read_image, to_uint8, write_image


def _image(value: int, w: int = 24, h: int = 12) -> np.ndarray:
    rng = np.random.default_rng(value)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_middlebury_layout_is_detected_and_read_exactly(tmp_path):
    images = {}
    for k, seq in enumerate(["Walking", "Beanbags"]):
        (tmp_path / "input" / seq).mkdir(parents=True)
        (tmp_path / "gt" / seq).mkdir(parents=True)
        images[seq] = [_image(3 * k + i) for i in range(3)]
        write_image(tmp_path / "input" / seq / "frame10.png", images[seq][0])
        write_image(tmp_path / "gt" / seq / "frame10i11.png", images[seq][1])
        write_image(tmp_path / "input" / seq / "frame11.png", images[seq][2])
    dataset = ds.open_dataset(tmp_path)
    assert (dataset.kind, dataset.count, dataset.equirect) == ("middlebury", 2, True)
    samples = list(dataset.samples())
    assert [s.name for s in samples] == ["Beanbags", "Walking"]
    for s in samples:
        img0, gt, img1 = images[s.name]
        assert s.gt.dtype == np.uint8 and np.array_equal(s.gt, gt)
        assert np.array_equal(np.rint(s.img0 * 255).astype(np.uint8), img0)
        assert np.array_equal(np.rint(s.img1 * 255).astype(np.uint8), img1)
        assert s.t == 0.5


def test_triplet_folders_in_natural_order(tmp_path):
    for name in ["10", "2", "1"]:
        (tmp_path / name).mkdir()
        for i in range(3):
            write_image(tmp_path / name / f"frame{i}.png", _image(int(name) * 3 + i, 20, 16))
    dataset = ds.open_dataset(tmp_path)
    samples = list(dataset.samples())
    assert dataset.kind == "triplets" and not dataset.equirect
    assert [s.name for s in samples] == ["1", "2", "10"]
    assert np.array_equal(samples[2].gt, _image(31, 20, 16))


def test_2to1_frames_are_panoramas_only_where_their_edges_meet_as_in_a_job(tmp_path):
    # A 2:1 crop of ordinary video: its left and right edges do not meet (a ramp across the
    # view). By shape alone it was a panorama: warped across its edges, scored with WS-PSNR.
    x = np.linspace(0.0, 1.0, 64, dtype=np.float32)[None, :, None]
    texture = np.random.default_rng(0).uniform(0, 0.05, (32, 64, 3)).astype(np.float32)
    photo = 0.2 + 0.7 * x + texture
    pano = 0.5 + 0.3 * np.sin(2 * np.pi * x) + texture  # periodic: the edges meet
    for name, image in (("photo", photo), ("pano", pano)):
        (tmp_path / name / "a").mkdir(parents=True)
        for i in range(3):
            write_image(tmp_path / name / "a" / f"frame{i}.png", np.roll(image, i, axis=0))
        (tmp_path / f"{name}_seq").mkdir()
        for i in range(3):
            write_image(tmp_path / f"{name}_seq" / f"{i}.png", np.roll(image, i, axis=0))
    for name, equirect in (("photo", False), ("pano", True)):
        for path in (tmp_path / name, tmp_path / f"{name}_seq"):
            dataset = ds.open_dataset(path)
            assert dataset.equirect is equirect, path
            assert all(s.equirect is equirect for s in dataset.samples())
    forced = ds.open_dataset(tmp_path / "photo", projection="equirect")  # evaluate --projection
    assert forced.equirect and next(forced.samples()).equirect


def test_triplet_folders_in_vimeo90k_names_and_jpeg(tmp_path):
    # Vimeo-90K's im1/im2/im3.png and JPEG frames: a researcher's own triplets. They were taken
    # for a capture ("no JPEG, PNG or HEIC images in this folder").
    for name, files in (("1", ["im1.png", "im2.png", "im3.png"]),
                        ("2", ["frame0.jpg", "frame1.jpg", "frame2.jpg"])):  # fmt: skip
        (tmp_path / name).mkdir()
        for i, file in enumerate(files):
            write_image(tmp_path / name / file, _image(3 * int(name) + i, 20, 16))
    dataset = ds.open_dataset(tmp_path)
    samples = list(dataset.samples())
    assert dataset.kind == "triplets" and [s.name for s in samples] == ["1", "2"]
    assert np.array_equal(samples[0].gt, _image(4, 20, 16))  # im2.png, the middle
    assert samples[1].gt.shape == (16, 20, 3)


def vimeo_layout(root, tests=("00001/0001", "00001/0002"), trains=("00002/0001",)):
    """Vimeo-90K's triplet layout in miniature (sequences/<a>/<b>/im1..3.png and the two lists),
    from real photos: 64x48 crops of the sample walk's consecutive panoramas 01-04."""
    from pathlib import Path

    walk = Path(__file__).resolve().parents[1] / "samples" / "fusion_forest"
    shots = [read_image(walk / f"{i:02d}.jpg").image[200:248, 480:544] for i in range(1, 5)]
    for k, name in enumerate([*tests, *trains]):
        folder = root / "sequences" / name
        folder.mkdir(parents=True)
        for i in range(3):
            write_image(folder / f"im{i + 1}.png", shots[(k + i) % 4])
    (root / "tri_testlist.txt").write_text("\n".join(tests) + "\n\n")
    (root / "tri_trainlist.txt").write_text("\n".join([*trains, "00009/0009"]) + "\n")
    return shots


def test_vimeo90k_layout_is_read_through_its_list_files(tmp_path):
    # vimeo_triplet/ (sequences/ and tri_*list.txt) was taken for a capture and refused.
    shots = vimeo_layout(tmp_path)
    test = ds.open_dataset(tmp_path)  # the root: its test list
    samples = list(test.samples())
    assert test.kind == "vimeo-90k" and not test.equirect and test.count == 2
    assert [s.name for s in samples] == ["00001/0001", "00001/0002"]
    assert [n for n in test.notes if not n.startswith("frames without a focal length")] == []
    assert np.array_equal(samples[1].gt, to_uint8(shots[2]))  # im2.png of the second triplet
    train = ds.open_dataset(tmp_path / "tri_trainlist.txt")  # a list file: that list
    assert [s.name for s in train.samples()] == ["00002/0001"]
    assert train.notes[0] == ("tri_trainlist.txt: 1 listed triplets have no im1.png, im2.png, "
                              "im3.png under sequences/ (first: 00009/0009): left out")  # fmt: skip
    (tmp_path / "tri_testlist.txt").write_text("00005/0005\n")
    with pytest.raises(ViewsynthError, match="tri_testlist.txt: lists no triplet with im1.png"):
        ds.open_dataset(tmp_path)
    (tmp_path / "tri_testlist.txt").unlink()  # the training list only: "no images in this folder"
    with pytest.raises(ViewsynthError, match="a Vimeo-90K root without tri_testlist.txt: give one"):
        ds.open_dataset(tmp_path)


def test_a_triplet_or_sequence_short_of_a_frame_is_said_not_dropped_silently(tmp_path):
    # A folder missing its middle frame left the set one sample short, with not a word.
    for name in ("a", "b"):
        (tmp_path / "t" / name).mkdir(parents=True)
        for i in range(3 if name == "a" else 2):
            write_image(tmp_path / "t" / name / f"frame{i}.png", _image(i, 20, 16))
    dataset = ds.open_dataset(tmp_path / "t")
    assert dataset.count == 1 and dataset.notes == [
        "skipped b: not a triplet (no frame0, frame1, frame2 / im1, im2, im3 there)"
    ]
    for seq in ("One", "Two"):
        (tmp_path / "m" / "input" / seq).mkdir(parents=True)
        (tmp_path / "m" / "gt" / seq).mkdir(parents=True)
        write_image(tmp_path / "m" / "input" / seq / "frame11.png", _image(1))
        write_image(tmp_path / "m" / "gt" / seq / "frame10i11.png", _image(2))
    write_image(tmp_path / "m" / "input" / "One" / "frame10.png", _image(3))
    dataset = ds.open_dataset(tmp_path / "m")
    assert dataset.count == 1 and dataset.notes == ["skipped Two: no input/Two/frame10.png"]


def test_leave_one_out_indices():
    assert ds.leave_one_out_indices(7) == [1, 2, 3, 4, 5]
    assert ds.leave_one_out_indices(7, parity="odd") == [1, 3, 5]
    assert ds.leave_one_out_indices(7, parity="even") == [2, 4]
    assert ds.leave_one_out_indices(7, every=2) == [1, 3, 5]
    assert ds.leave_one_out_indices(9, every=2, parity="odd") == [1, 5]
    with pytest.raises(ViewsynthError, match=r"^--every: must be at least 1, got 0$"):
        ds.leave_one_out_indices(7, every=0)


def test_leave_one_out_on_a_frame_folder_predicts_i_from_its_neighbours(tmp_path):
    for i in range(7):
        write_image(tmp_path / f"img{i + 1}.png", _image(i))  # img1 .. img7, natural order
    dataset = ds.open_dataset(tmp_path, parity="odd")
    samples = list(dataset.samples())
    assert dataset.kind == "leave-one-out" and dataset.count == 3
    assert [s.name for s in samples] == ["img2", "img4", "img6"]
    for s, i in zip(samples, [1, 3, 5], strict=True):
        assert np.array_equal(s.gt, _image(i))
        assert np.array_equal(np.rint(s.img0 * 255).astype(np.uint8), _image(i - 1))
        assert np.array_equal(np.rint(s.img1 * 255).astype(np.uint8), _image(i + 1))


def test_leave_one_out_on_a_video(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    frames = [_image(i, 32, 16) for i in range(7)]
    path = tmp_path / "clip.mkv"
    # FFV1 is lossless, so decoded frames can be compared exactly.
    writer = imageio_ffmpeg.write_frames(
        str(path), (32, 16), codec="ffv1", pix_fmt_out="bgr0", macro_block_size=1, fps=10
    )
    writer.send(None)
    for f in frames:
        writer.send(f)
    writer.close()
    dataset = ds.open_dataset(path, every=2)
    samples = list(dataset.samples())
    assert dataset.equirect and [s.name for s in samples] == [
        "frame00001",
        "frame00003",
        "frame00005",
    ]
    for s in samples:
        i = int(s.name[5:])
        assert np.array_equal(s.gt, frames[i])
        assert np.array_equal(np.rint(s.img1 * 255).astype(np.uint8), frames[i + 1])


def test_leave_one_out_keeps_panoramas_as_stored_and_frames_in_name_order(tmp_path):
    # A turning camera: each panorama is the last rolled by 3 columns. The capture wing would turn
    # them to one heading, and order them by their EXIF clocks, which here run backwards; the
    # ground truth must stay as stored, and frames in file-name order.
    from PIL import Image

    base = _image(9, 48, 24)
    for i in range(5):
        exif = Image.Exif()
        exif[0x8769] = {0x9003: f"2024:01:01 12:00:{50 - 10 * i:02d}"}  # DateTimeOriginal
        Image.fromarray(np.roll(base, 3 * i, axis=1)).save(tmp_path / f"p{i}.jpg", exif=exif)
    stored = [to_uint8(read_image(tmp_path / f"p{i}.jpg").image) for i in range(5)]
    samples = list(ds.open_dataset(tmp_path).samples())
    assert [s.name for s in samples] == ["p1", "p2", "p3"]
    for s, i in zip(samples, [1, 2, 3], strict=True):
        assert s.equirect and np.array_equal(s.gt, stored[i])
        assert np.array_equal(to_uint8(s.img0), stored[i - 1])
        assert np.array_equal(to_uint8(s.img1), stored[i + 1])


def test_an_unreadable_frame_costs_only_the_triplets_that_need_it(tmp_path):
    for i in range(6):
        write_image(tmp_path / f"f{i}.png", _image(i, 20, 16))
    (tmp_path / "f2.png").write_bytes(b"not a png")
    dataset = ds.open_dataset(tmp_path)
    samples = list(dataset.samples())
    # f2 keeps its place: f1 and f3 are never paired across it.
    assert [s.name for s in samples] == ["f4"] and dataset.count == 4
    assert np.array_equal(np.rint(samples[0].img0 * 255).astype(np.uint8), _image(3, 20, 16))
    assert [n.split(":")[0] for n in dataset.notes][:3] == [
        "skipped f1",
        "skipped f2",
        "skipped f3",
    ]
    assert all(str(tmp_path / "f2.png") in n for n in dataset.notes[:3])


def test_rolled_shifts_inputs_and_ground_truth_by_half_a_width(tmp_path):
    dataset = ds.synthetic_set(1, 32, 16, seed=3)
    plain = next(dataset.samples())
    turned = ds.rolled(dataset)
    assert turned.name == f"{dataset.name} (rolled)" and turned.rolled
    r = next(turned.samples())
    assert np.array_equal(r.gt, np.roll(plain.gt, 16, axis=1))
    assert np.array_equal(r.img0, np.roll(plain.img0, 16, axis=1))
    assert np.array_equal(r.img1, np.roll(plain.img1, 16, axis=1))
    assert r.gt[:, 0].tolist() == plain.gt[:, 16].tolist()
    flat = ds.synthetic_set(1, 40, 30)
    with pytest.raises(ViewsynthError, match=r"--rolled applies to 2:1 panoramas only$"):
        ds.rolled(flat)


def test_synthetic_panorama_wraps_across_the_seam():
    # A quarter-turn of every layer in one frame must equal np.roll: the texture is periodic
    # in longitude, and the moving disc wraps too.
    rng = np.random.default_rng(5)
    scene = synth.moving_scene(rng, 64, 32, equirect=True)
    turn = dataclasses.replace(scene, shift_bg=(16.0, 0.0), shift_fg=(16.0, 0.0))
    disc = scene.disc.copy()
    disc[0] = 60.0  # centred near the seam, so the wrap matters
    turn = dataclasses.replace(turn, disc=disc)
    frame0 = synth.draw_moving(turn, 64, 32, 0.0, equirect=True)
    frame1 = synth.draw_moving(turn, 64, 32, 1.0, equirect=True)
    assert np.abs(frame1 - np.roll(frame0, 16, axis=1)).max() < 1e-5


def test_synthetic_set_is_deterministic_and_moves():
    a = [s.gt for s in ds.synthetic_set(2, 48, 24, seed=7).samples()]
    b = [s.gt for s in ds.synthetic_set(2, 48, 24, seed=7).samples()]
    c = [s.gt for s in ds.synthetic_set(2, 48, 24, seed=8).samples()]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    s = next(ds.synthetic_set(1, 48, 24, seed=7).samples())
    assert np.abs(s.img0 - s.img1).mean() > 0.01  # there is motion to interpolate


def test_render_set_converts_and_renders_once(monkeypatch):
    calls = []

    def heldout_panoramas(n, width, height, seed=123):
        calls.append((n, width, height, seed))
        img = np.full((height, width, 3), 0.5, np.float32)
        return [(img, img + 0.1, img, 0.25) for _ in range(n)]

    monkeypatch.setattr(synth, "heldout_panoramas", heldout_panoramas)
    dataset = ds.render_set(2, 32, 16, seed=99)
    plain = list(dataset.samples())
    rolled = list(ds.rolled(dataset).samples())
    assert calls == [(2, 32, 16, 99)]
    assert len(plain) == len(rolled) == 2
    assert plain[0].gt.dtype == np.uint8 and plain[0].gt[0, 0, 0] == 153  # 0.6 * 255 rounded
    assert plain[0].t == 0.25 and plain[0].equirect


def test_from_config_resolves_paths_against_the_config_folder(tmp_path):
    data = tmp_path / "data" / "frames"
    data.mkdir(parents=True)
    for i in range(4):
        write_image(data / f"{i}.png", _image(i, 20, 16))
    conf = tmp_path / "configs"
    conf.mkdir()
    cfg = sets.DatasetConfig(name="mine", path="../data/frames", limit=1)
    dataset = sets.from_config(cfg, conf)
    assert (dataset.name, dataset.count) == ("mine", 1)
    assert len(list(dataset.samples())) == 1
    with pytest.raises(ds.DatasetUnavailable, match=r"nowhere: no such file or folder$"):
        sets.from_config(sets.DatasetConfig(path="nowhere"), conf)


def test_triplet_of_different_sizes_is_skipped_with_a_note(tmp_path):
    write_image(tmp_path / "a.png", _image(0))
    write_image(tmp_path / "b.png", _image(1, 30, 12))
    write_image(tmp_path / "c.png", _image(2))
    dataset = ds.open_dataset(tmp_path)
    assert list(dataset.samples()) == []
    assert dataset.notes and "frames of one triplet differ in size" in dataset.notes[0]


def test_leave_one_out_with_a_gap_predicts_i_from_i_minus_and_plus_gap(tmp_path):
    assert ds.leave_one_out_indices(7, gap=2) == [2, 3, 4]
    assert ds.leave_one_out_indices(9, gap=2, every=2) == [2, 4, 6]
    with pytest.raises(ViewsynthError, match=r"^--gap: must be at least 1, got 0$"):
        ds.leave_one_out_indices(7, gap=0)
    for i in range(7):
        write_image(tmp_path / f"img{i + 1}.png", _image(i))
    dataset = ds.open_dataset(tmp_path, gap=2)
    samples = list(dataset.samples())
    assert dataset.count == 3 and dataset.name == f"{tmp_path.name} gap 2"
    assert [s.name for s in samples] == ["img3", "img4", "img5"]
    for s, i in zip(samples, [2, 3, 4], strict=True):
        assert np.array_equal(s.gt, _image(i))
        assert np.array_equal(np.rint(s.img0 * 255).astype(np.uint8), _image(i - 2))
        assert np.array_equal(np.rint(s.img1 * 255).astype(np.uint8), _image(i + 2))
    cfg = sets.DatasetConfig(name="walk gap 2", path=str(tmp_path), gap=2, limit=2)
    assert [s.name for s in sets.from_config(cfg).samples()] == ["img3", "img4"]
    with pytest.raises(ViewsynthError, match="gap of 4 needs at least 9 images, found 7"):
        ds.open_dataset(tmp_path, gap=4)


# --- the street sets of sets.py ---------------------------------------------------------------


def _video(path, frames, fps=10):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    h, w = frames[0].shape[:2]
    # FFV1 is lossless, so decoded frames can be compared exactly.
    writer = imageio_ffmpeg.write_frames(
        str(path), (w, h), codec="ffv1", pix_fmt_out="bgr0", macro_block_size=1, fps=fps
    )
    writer.send(None)
    for f in frames:
        writer.send(f)
    writer.close()
    return path


def test_distance_triplets_take_inputs_metres_apart_and_the_frame_nearest_their_middle():
    along = [0.0, 0.5, 1.0, 1.4, 2.1, 2.5, 3.0, 3.6, 4.2]
    # Pairs 2 m apart, one after the other: 0 -> 2.1 m (middle 1.05: frame 2 at 1.0), then
    # 2.1 -> 4.2 m (middle 3.15: frame 6 at 3.0, not 7 at 3.6).
    assert sets.distance_triplets(along, 2.0) == [(0, 2, 4), (4, 6, 8)]
    # A pair starting every metre: from 0, 1.0 (-> 3.0, middle 2.0: frame 4 at 2.1), 2.1, 3.0
    # (-> nothing 2 m further: the walk ends).
    assert sets.distance_triplets(along, 2.0, stride=1.0) == [(0, 2, 4), (2, 4, 6), (4, 6, 8)]
    # Inputs with no frame between them give no triplet.
    assert sets.distance_triplets([0.0, 3.0, 6.0], 2.0) == []
    with pytest.raises(ViewsynthError, match="must not decrease"):
        sets.distance_triplets([0.0, 2.0, 1.0, 3.0], 1.0)


def test_gps_walk_picks_frames_by_distance_along_the_video_track(tmp_path, monkeypatch):
    import viewsynth.evaluation.sets as sets_module
    from viewsynth.capture import load_capture

    frames = [_image(i, 32, 16) for i in range(10)]
    path = _video(tmp_path / "walk.mkv", frames)
    along = [0.0, 0.5, 1.0, 1.4, 2.1, 2.5, 3.0, 3.6, 4.2, None]  # the last frame has no fix
    metres_per_degree = 6371008.8 * np.pi / 180.0

    def with_track(source, options):
        assert options.use_gps and not options.align_heading
        capture = load_capture(source, options)
        segments = [
            [
                dataclasses.replace(
                    shot,
                    lat=None
                    if along[shot.frame_index] is None
                    else 45.0 + along[shot.frame_index] / metres_per_degree,
                    lon=None if along[shot.frame_index] is None else 7.0,
                )
                for shot in seg
            ]
            for seg in capture.segments
        ]
        return dataclasses.replace(capture, segments=segments)

    monkeypatch.setattr(sets_module, "load_capture", with_track)
    cfg = sets.DatasetConfig(name="walk", path=str(path), metres=2.0)
    dataset = sets.from_config(cfg)
    samples = list(dataset.samples())
    assert (dataset.name, dataset.kind, dataset.count, dataset.equirect) == (
        "walk",
        "gps-walk",
        2,
        False,
    )
    assert [s.name for s in samples] == ["frame00002", "frame00006"]
    for s, (i0, i, i1) in zip(samples, [(0, 2, 4), (4, 6, 8)], strict=True):
        assert s.t == 0.5 and np.array_equal(s.gt, frames[i])
        assert np.array_equal(np.rint(s.img0 * 255).astype(np.uint8), frames[i0])
        assert np.array_equal(np.rint(s.img1 * 255).astype(np.uint8), frames[i1])
    # Resized: inputs and truth 16 wide, the aspect kept.
    small = sets.gps_walk(path, 2.0, width=16)
    first = next(iter(small.samples()))
    assert small.size == (16, 8) and first.gt.shape == first.img0.shape == (8, 16, 3)


def test_gps_walk_needs_a_video_with_a_track(tmp_path):
    path = _video(tmp_path / "clip.mkv", [_image(i, 32, 16) for i in range(4)])
    with pytest.raises(ViewsynthError, match=r"clip.mkv: a walk by GPS distance needs a GPS track"):
        sets.gps_walk(path, 2.0)
    with pytest.raises(ViewsynthError, match=r"needs a video file"):
        sets.gps_walk(tmp_path, 2.0)
    with pytest.raises(ds.DatasetUnavailable, match=r"absent.mp4: no such file or folder"):
        sets.from_config(sets.DatasetConfig(path=str(tmp_path / "absent.mp4"), metres=2.0))


def test_video_triplets_at_a_gap_are_resized_to_the_width_truth_too(tmp_path):
    from viewsynth.frames import resize

    frames = [_image(i, 40, 24) for i in range(13)]
    path = _video(tmp_path / "drive.mkv", frames)
    cfg = sets.DatasetConfig(path=str(path), gap=3, every=3, resize_width=20)
    dataset = sets.from_config(cfg)
    samples = list(dataset.samples())
    assert dataset.name == "drive.mkv gap 3" and dataset.size == (20, 12)
    assert [s.name for s in samples] == ["frame00003", "frame00006", "frame00009"]
    for s in samples:
        i = int(s.name[5:])
        assert s.gt.shape == (12, 20, 3)
        expected = to_uint8(resize(frames[i] / np.float32(255.0), 20, 12)).astype(int)
        assert np.abs(s.gt.astype(int) - expected).max() <= 1  # area-averaged, then rounded
        assert np.allclose(s.img0, resize(frames[i - 3] / 255.0, 20, 12), atol=1 / 255)
        assert np.allclose(s.img1, resize(frames[i + 3] / 255.0, 20, 12), atol=1 / 255)


def test_perspective_renders_are_held_out_and_rendered_once(monkeypatch):
    calls = []

    def street_triplet(seed, textures, *, width, height, equirect, t):
        calls.append((seed, textures, width, height, equirect))
        img = np.full((height, width, 3), 0.25, np.float32)
        return synth.Triplet(img, img + 0.5, img, t, equirect)

    monkeypatch.setattr(synth, "make_textures", lambda seed: f"textures {seed}")
    monkeypatch.setattr(synth, "street_triplet", street_triplet)
    cfg = sets.DatasetConfig(kind="perspective_render", count=3, width=24, height=16)
    dataset = sets.from_config(cfg)
    first, again = list(dataset.samples()), list(dataset.samples())
    seed = synth.BENCHMARK_PERSPECTIVE_SEED
    assert seed >= synth.HELDOUT_SEED
    assert calls == [(seed + k, f"textures {seed}", 24, 16, False) for k in range(3)]
    assert (
        [s.name for s in again]
        == [s.name for s in first]
        == ["render000", "render001", "render002"]
    )
    assert not dataset.equirect and all(not s.equirect for s in first)
    assert all(s.t in (0.25, 0.5, 0.75) for s in first)
    assert first[0].gt.dtype == np.uint8 and first[0].gt[0, 0, 0] == 191  # 0.75 * 255 rounded
    with pytest.raises(ViewsynthError, match="training seed"):
        sets.perspective_render_set(1, 24, 16, seed=5)


def test_photos_carry_their_exif_field_of_view_and_renders_their_own(tmp_path, monkeypatch):
    # Every method is asked as a job asks it: with the pair's field of view where the data say it.
    from PIL import Image

    for i in range(3):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0xA405] = 35  # FocalLengthIn35mmFilm, on the 43.3 mm diagonal
        Image.fromarray(_image(i, 64, 48)).save(tmp_path / f"p{i}.jpg", exif=exif.tobytes())
    [sample] = list(ds.open_dataset(tmp_path).samples())
    assert not sample.equirect
    focal_px = 35 / np.hypot(36, 24) * np.hypot(64, 48)
    assert sample.hfov == pytest.approx(2 * np.degrees(np.arctan(32 / focal_px)))  # 52.6
    for i in range(3):
        write_image(tmp_path / f"p{i}.jpg", _image(i, 64, 48))  # no EXIF: unknown
    assert next(ds.open_dataset(tmp_path).samples()).hfov is None
    pano = tmp_path / "pano"
    pano.mkdir()
    for i in range(3):  # 2:1 with a focal length: a panorama still has no field of view
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0xA405] = 35
        Image.fromarray(_image(i, 64, 32)).save(pano / f"q{i}.jpg", exif=exif.tobytes())
    [sample] = list(ds.open_dataset(pano).samples())
    assert sample.equirect and sample.hfov is None

    def street_triplet(seed, textures, *, width, height, equirect, t):
        img = np.full((height, width, 3), 0.25, np.float32)
        return synth.Triplet(img, img, img, t, equirect, hfov=50.0 + seed % 7)

    monkeypatch.setattr(synth, "make_textures", lambda seed: None)
    monkeypatch.setattr(synth, "street_triplet", street_triplet)
    rendered = list(sets.perspective_render_set(2, 24, 16).samples())
    assert [s.hfov for s in rendered] == [
        50.0 + (synth.BENCHMARK_PERSPECTIVE_SEED + k) % 7 for k in range(2)
    ]


def test_benchmark_renders_are_not_the_scenes_checkpoints_were_chosen_on(monkeypatch):
    # Training validation chooses checkpoints on its held-out scenes (panoramas from
    # HELDOUT_SEED, perspective views from VALIDATION_PERSPECTIVE_SEED, as many as a training
    # config's validation asks); the benchmark's render sets and evaluate --render must score
    # other scenes, or the table flatters the network that was chosen on them.
    from viewsynth import config as cfgmod
    from viewsynth.evaluation.evaluate import BenchmarkConfig
    from viewsynth.synth import triplets
    from viewsynth.training.config import TrainConfig

    repo = Path(__file__).resolve().parents[1]
    configs = [
        *sorted((repo / "configs" / "shipped").rglob("*.yaml")),
        repo / "configs" / "train_debug.yaml",
    ]
    trains = [cfgmod.load(TrainConfig, p) for p in configs]
    pano = max(t.validation.panoramas for t in trains)
    persp = max(t.validation.perspective for t in trains)
    assert pano >= 8 and persp >= 8
    chosen = {
        "render": range(synth.HELDOUT_SEED, synth.HELDOUT_SEED + pano),
        "perspective_render": range(
            synth.VALIDATION_PERSPECTIVE_SEED, synth.VALIDATION_PERSPECTIVE_SEED + persp
        ),
    }
    used = []
    monkeypatch.setattr(synth, "make_textures", lambda seed, photos=(): None)

    def street_triplet(seed, textures, *, width, height, equirect, t):
        used.append(seed)
        img = np.zeros((height, width, 3), np.float32)
        return synth.Triplet(img, img, img, t, equirect)

    monkeypatch.setattr(synth, "street_triplet", street_triplet)
    monkeypatch.setattr(triplets, "street_triplet", street_triplet)
    monkeypatch.setattr(triplets, "make_textures", lambda seed, photos=(): None)
    for name in ("benchmark.yaml", "benchmark_full.yaml"):
        bench = cfgmod.load(BenchmarkConfig, repo / "configs" / name)
        for d in bench.datasets:
            if d.kind not in chosen:
                continue
            used.clear()
            list(sets.from_config(dataclasses.replace(d, width=32, height=16)).samples())
            assert len(used) == d.count and not set(used) & set(chosen[d.kind]), (name, d.name)
    used.clear()
    list(ds.render_set(3, 32, 16).samples())  # evaluate --render's default
    assert used and not set(used) & set(chosen["render"])
