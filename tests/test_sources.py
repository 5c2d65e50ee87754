"""Training sources: frame triplets, augmentation that keeps triplets exact, deterministic batches."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from viewsynth import frames, synth
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.synth import Triplet
from viewsynth.training import augment, sources
from viewsynth.training.prefetch import Memo

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _triplet(seed=0, shape=(8, 16, 3), equirect=True, t=0.25):
    rng = np.random.default_rng(seed)
    a, m, b = (rng.random(shape).astype(np.float32) for _ in range(3))
    return Triplet(a, m, b, t, equirect)


def test_frame_triplets_pick_neighbours_at_the_gap_and_respect_parity():
    seq = [np.full((4, 6, 3), i / 10.0, np.float32) for i in range(7)]
    trip = sources.FrameTriplets(seq, gaps=(2,), targets=[1, 3, 5])
    assert sorted(trip.choices) == [(3, 2)]  # 1 and 5 lack a neighbour two frames away
    tr = trip.triplet(0)
    np.testing.assert_allclose(
        [tr.img0[0, 0, 0], tr.mid[0, 0, 0], tr.img1[0, 0, 0]], [0.1, 0.3, 0.5], atol=1 / 255
    )
    assert tr.t == 0.5 and not tr.equirect
    odd = sources.FrameTriplets(seq, gaps=(1,), targets=range(1, 7, 2))
    assert {i for i, _ in odd.choices} == {1, 3, 5}
    with pytest.raises(ViewsynthError, match="frames: no middle frame has neighbours at gaps"):
        sources.FrameTriplets(seq[:3], gaps=(2,))
    with pytest.raises(ViewsynthError, match="frames: need at least 3 frames"):
        sources.FrameTriplets(seq[:2])


def test_read_frames_reads_a_folder_in_natural_order_and_rejects_other_paths(tmp_path):
    for i in (10, 0, 2):  # f2 before f10, as frames.natural_key orders them
        frames.write_image(tmp_path / f"f{i}.png", np.full((4, 4, 3), i * 0.05, np.float32))
    got = sources.read_frames(tmp_path)
    np.testing.assert_allclose([f[0, 0, 0] for f in got], [0.0, 0.1, 0.5], atol=1 / 255)
    with pytest.raises(FrameError, match="not a video file or a folder of images"):
        sources.read_frames(tmp_path / "f0.png")


def test_yaw_roll_and_flip_keep_the_triplet_consistent():
    tr = _triplet()
    rolled = augment.yaw_roll(tr, 3)
    for a, b in ((rolled.img0, tr.img0), (rolled.mid, tr.mid), (rolled.img1, tr.img1)):
        np.testing.assert_array_equal(a, np.roll(b, 3, axis=1))
    flipped = augment.hflip(tr)
    np.testing.assert_array_equal(flipped.mid, tr.mid[:, ::-1])
    assert rolled.equirect and flipped.equirect and rolled.t == tr.t


def test_reverse_swaps_the_frames_and_mirrors_time():
    tr = _triplet(t=0.25)
    rev = augment.reverse(tr)
    np.testing.assert_array_equal(rev.img0, tr.img1)
    np.testing.assert_array_equal(rev.img1, tr.img0)
    assert rev.t == 0.75


def test_crop_cuts_all_frames_alike_and_ends_the_panorama():
    tr = _triplet(shape=(8, 16, 3))
    c = augment.crop(tr, 2, 5, 4, 6)
    np.testing.assert_array_equal(c.mid, tr.mid[2:6, 5:11])
    assert c.img0.shape == (4, 6, 3) and not c.equirect


def test_photometric_blends_per_shot_exposure_for_the_target_and_keeps_it_clean():
    grey = Triplet(*(np.full((8, 8, 3), 0.5, np.float32) for _ in range(3)), t=0.25, equirect=False)
    cfg = augment.AugmentConfig(
        brightness=0,
        contrast=0,
        saturation=0,
        exposure_stops=0.3,
        white_balance=0.0,
        noise=0.05,
        jpeg=0.0,
    )
    out = augment.photometric(np.random.default_rng(1), grey, cfg)
    g0, g1 = out.img0.mean() / 0.5, out.img1.mean() / 0.5
    # Inputs carry noise, the target none; its gain is the blend of the two shots' at t.
    assert out.img0.std() > 0.005 and out.mid.std() < 1e-6
    assert out.mid.mean() / 0.5 == pytest.approx(0.75 * g0 + 0.25 * g1, abs=0.01)


def test_degrade_target_gives_the_target_its_own_independent_noise():
    grey = Triplet(
        *(np.full((16, 16, 3), 0.5, np.float32) for _ in range(3)), t=0.5, equirect=False
    )
    base = dict(brightness=0, contrast=0, saturation=0, exposure_stops=0, white_balance=0, jpeg=0)
    cfg = augment.AugmentConfig(noise=0.05, degrade_target=True, **base)
    out = augment.photometric(np.random.default_rng(2), grey, cfg)
    assert out.mid.std() > 0.005 and out.img0.std() > 0.005 and out.img1.std() > 0.005
    # independent draws: the target's noise is not a copy or a blend of the inputs'
    n0, nm = (out.img0 - 0.5).ravel(), (out.mid - 0.5).ravel()
    assert abs(np.corrcoef(n0, nm)[0, 1]) < 0.2
    assert abs(out.mid.mean() - 0.5) < 0.01  # noise only, no change of level


def test_jpeg_round_trip_is_close_lossy_and_keeps_rgb_order():
    yy, xx = np.mgrid[0:16, 0:16] / 15.0
    img = np.stack([0.2 + 0.6 * xx, 0.3 * yy, np.full_like(xx, 0.1)], axis=-1).astype(np.float32)
    out = augment.jpeg(img, 50)
    assert out.shape == img.shape and out.dtype == np.float32
    assert 0.0 < np.abs(out - img).mean() < 0.03
    np.testing.assert_allclose(out.mean(axis=(0, 1)), img.mean(axis=(0, 1)), atol=0.02)


def _small_data(**changes):
    cfg = sources.DataConfig(
        batch_size=2, pano_width=32, pano_height=16, crop=16, mix_video=0.0, supersample=1,
        textures=5, texture_size=16, photo_fraction=0.0, **changes,
    )  # fmt: skip
    return sources.TrainingData(cfg, seed=3, classical_init=False)


def test_batches_are_a_function_of_the_step_and_reuse_shares_scenes():
    data = _small_data(pano_fraction=1.0, reuse=2)
    a, b = data.batch(4), _small_data(pano_fraction=1.0, reuse=2).batch(4)
    np.testing.assert_array_equal(a.mid, b.mid)
    assert a.equirect and a.img0.shape == (2, 16, 32, 3) and a.t.shape == (2,)
    # Step 5 shares step 4's scenes (reuse 2) but not its augmentation; step 6 is a new group.
    assert not np.array_equal(data.batch(5).mid, a.mid)
    assert list(data._groups._items) == [2]  # one rendering for steps 4 and 5
    data.batch(6)
    assert list(data._groups._items) == [2, 3]


def test_batches_made_by_many_threads_equal_the_serial_ones():
    from viewsynth.training.prefetch import prefetch

    serial = _small_data(pano_fraction=0.5, reuse=2)
    threaded = sources.TrainingData(serial.cfg, seed=3, classical_init=False, in_flight=4)
    got = list(prefetch(threaded.batch, 0, 7, depth=4, workers=3))
    assert len(got) == 7
    for step, batch in enumerate(got):
        want = serial.batch(step)
        assert batch.equirect == want.equirect
        np.testing.assert_array_equal(batch.mid, want.mid)
        np.testing.assert_array_equal(batch.img0, want.img0)


def test_prefetch_with_workers_keeps_step_order_and_raises_a_workers_error():
    import random
    import time

    from viewsynth.training.prefetch import prefetch

    def slow(step):  # later steps often finish first
        time.sleep(random.random() * 0.02)
        return step

    assert list(prefetch(slow, 3, 40, depth=8, workers=4)) == list(range(3, 40))

    def broken(step):
        if step == 5:
            raise FrameError("frame 5: unreadable")
        return step

    seen = []
    with pytest.raises(FrameError, match="frame 5"):
        for step in prefetch(broken, 0, 20, depth=4, workers=3):
            seen.append(step)
    assert seen == [0, 1, 2, 3, 4]


def test_prefetch_leaves_no_batch_half_made_when_the_consumer_stops():
    # a daemon data thread still inside OpenCV or XLA at interpreter exit aborts the process:
    # when the consumer stops (break, error, end), the batch in the making is finished first
    import threading
    import time

    from viewsynth.training.prefetch import prefetch

    started, finished = [], []

    def make(step):
        started.append(step)
        time.sleep(0.2)
        finished.append(step)
        if step == 3:
            raise FrameError("frame 3: unreadable")
        return step

    for step in prefetch(make, 0, 50, depth=1):
        if step == 1:
            break  # the training loop's max_minutes
    assert started == finished and len(started) < 50
    assert not any(t.name == "viewsynth-data" and t.is_alive() for t in threading.enumerate())
    started.clear(), finished.clear()
    seen = []
    with pytest.raises(FrameError, match="frame 3"):  # a worker's error, the queue full behind it
        for step in prefetch(make, 0, 50, depth=1):
            seen.append(step)
            time.sleep(0.3)
    assert seen == [0, 1, 2] and started == finished
    assert not any(t.name == "viewsynth-data" and t.is_alive() for t in threading.enumerate())


def test_memo_computes_each_key_once_under_concurrency():
    import threading
    import time

    memo = Memo(keep=2)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return object()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(memo.get("k", compute))) for _ in range(6)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1
    memo.get("a", object)
    memo.get("b", object)  # the oldest key ("k") is dropped beyond keep=2
    assert list(memo._items) == ["a", "b"]
    with pytest.raises(ZeroDivisionError):
        memo.get("bad", lambda: 1 / 0)
    assert "bad" not in memo._items  # a failure is not remembered: the next call tries again


def test_a_video_given_as_a_folder_of_frames_feeds_triplets_and_textures(tmp_path):
    folder = tmp_path / "udacity_driving" / "solidWhiteRight"
    folder.mkdir(parents=True)
    for i in range(25):
        frames.write_image(folder / f"{i:04d}.png", np.full((12, 20, 3), i * 10, np.uint8))
    assert sources.training_video(tmp_path, sources.TRAINING_VIDEOS[0]) == folder
    assert sources.training_video(tmp_path / "nowhere", sources.TRAINING_VIDEOS[0]) is None
    photos = sources.texture_photos(tmp_path)
    # every 20th frame: 0 and 20
    assert [round(float(p.mean()) * 255) for p in photos] == [0, 200]
    cfg = sources.DataConfig(
        batch_size=2, pano_width=32, pano_height=16, crop=8, mix_video=1.0, mix_street=0.0,
        mix_layers=0.0, mix_pano_crop=0.0, pano_fraction=0.0, supersample=1, textures=5,
        texture_size=16, photo_fraction=0.0, data_root=str(tmp_path),
    )  # fmt: skip
    data = sources.TrainingData(cfg, seed=0, classical_init=False)
    assert data.video is not None and len(data.video.frames) == 25
    assert "udacity video triplets" in data.sources


def test_vimeo90k_train_list_feeds_perspective_rows(tmp_path):
    # data.vimeo: a Vimeo-90K root trains on its tri_trainlist.txt, never its test list.
    from test_datasets import vimeo_layout

    shots = vimeo_layout(tmp_path, tests=("00001/0001",), trains=("00002/0001", "00002/0002"))
    cfg = sources.DataConfig(
        batch_size=2, pano_width=32, pano_height=16, crop=16, mix_vimeo=1.0, mix_street=0.0,
        mix_layers=0.0, mix_video=0.0, mix_pano_crop=0.0, pano_fraction=0.0, supersample=1,
        textures=5, texture_size=16, photo_fraction=0.0, data_root=str(tmp_path),
        vimeo=str(tmp_path),
    )  # fmt: skip
    data = sources.TrainingData(cfg, seed=0, classical_init=False)
    assert len(data.vimeo) == 2 and any("Vimeo-90K (2 triplets" in s for s in data.sources)
    rows = [data._raw(g, i, False, None) for g in range(4) for i in range(2)]
    trains = [(shots[1], shots[2], shots[3]), (shots[2], shots[3], shots[0])]  # (k + i) % 4
    for tr in rows:
        got = tuple(frames.to_uint8(x) for x in (tr.img0, tr.mid, tr.img1))
        assert any(all(np.array_equal(g, frames.to_uint8(w)) for g, w in zip(got, want, strict=True))
                   for want in trains)  # fmt: skip
    assert data.batch(0).img0.shape == (2, 16, 16, 3)
    with pytest.raises(ValueError, match="mix_vimeo > 0 and data.vimeo go together"):
        sources.DataConfig(mix_vimeo=0.5)


def test_perspective_batches_are_crops_and_training_seeds_stay_below_the_heldout_ones():
    data = _small_data(pano_fraction=0.0)
    batch = data.batch(0)
    assert not batch.equirect and batch.img0.shape == (2, 16, 16, 3)
    huge = max(data._sample_seed(g, i) for g in (10**9, 10**12 + 7) for i in range(2))
    assert huge < synth.HELDOUT_SEED


def test_stack_batch_adds_the_classical_init_and_refuses_mixed_kinds():
    tr = synth.flying_triplet(
        0, synth.make_textures(0, count=5, size=16, levels=2), width=16, height=16
    )
    batch = sources.stack_batch([tr, tr], classical_init=True)
    (dis,) = batch.init.candidates
    assert dis.flow_t0.shape == (2, 16, 16, 2) and dis.logit.shape == (2, 16, 16, 1)
    assert batch.init.choice is None
    with pytest.raises(ViewsynthError, match="mixes panoramas and ordinary images"):
        sources.stack_batch([tr, dataclasses.replace(tr, equirect=True)], classical_init=False)


@pytest.mark.skipif(
    not (DATA / "udacity_driving" / "solidWhiteRight.mp4").is_file(), reason="shared data absent"
)
def test_video_triplets_from_the_udacity_clip():
    clip = sources.read_video(
        DATA / "udacity_driving" / "solidWhiteRight.mp4", every=50, max_side=96
    )
    seq = list(clip)
    assert len(seq) == 5 and seq[0].shape == (54, 96, 3)
    tr = sources.FrameTriplets(seq, gaps=(1,)).sample(np.random.default_rng(0))
    assert tr.t == 0.5 and tr.img0.shape == (54, 96, 3)


def test_the_held_out_video_tail_is_never_trained_on_and_feeds_validation(tmp_path):
    from viewsynth.training import validation
    from viewsynth.training.config import ValidationConfig

    folder = tmp_path / "udacity_driving" / "solidWhiteRight"
    folder.mkdir(parents=True)
    for i in range(25):  # frame i is flat grey level 10 i: every frame is recognisable
        frames.write_image(folder / f"{i:04d}.png", np.full((12, 20, 3), i * 10, np.uint8))
    cfg = sources.DataConfig(
        batch_size=2, pano_width=32, pano_height=16, crop=8, mix_video=1.0, mix_street=0.0,
        mix_layers=0.0, mix_pano_crop=0.0, pano_fraction=0.0, supersample=1, textures=5,
        texture_size=16, photo_fraction=0.0, data_root=str(tmp_path), video_holdout=8,
        augment=augment.AugmentConfig(  # no photometry: a frame keeps its grey level
            brightness=0.0, contrast=0.0, saturation=0.0, exposure_stops=0.0, white_balance=0.0,
            noise=0.0, jpeg=0.0,
        ),
    )  # fmt: skip
    data = sources.TrainingData(cfg, seed=0, classical_init=False)

    def levels(imgs):  # frame indices; training frames are kept as uint8, the others float
        return {round(float(f.mean()) * (0.1 if f.dtype == np.uint8 else 25.5)) for f in imgs}

    assert levels(data.video_heldout) == set(range(17, 25))
    assert levels(data.video.frames) == set(range(14))  # 14-16: the guard
    seen = set()
    for step in range(30):
        for tr in data.triplets(step):
            seen |= levels([tr.img0, tr.mid, tr.img1])
    assert seen and max(seen) < 14
    vcfg = ValidationConfig(panoramas=0, perspective=0, video=4)
    (vset,) = validation.validation_sets(
        vcfg, video_frames=data.video_heldout, stride=8, geometry=False
    )
    assert vset.name == "video" and vset.batch.img0.shape == (4, 8, 16, 3)
    mids = [round(float(m.mean()) * 25.5) for m in vset.batch.mid]
    assert all(18 <= m <= 23 for m in mids) and len(set(mids)) > 1
    assert vset.flow_psnr > 30  # flat frames: the flow method gets the mean level right
    with pytest.raises(ValueError, match="video_holdout"):
        sources.DataConfig(video_holdout=-1)
    with pytest.raises(ViewsynthError, match=r"solidWhiteRight: 25 frames leave none to train on"):
        sources.TrainingData(
            dataclasses.replace(cfg, video_holdout=21), seed=0, classical_init=False
        )


def test_stack_batch_with_geometry_adds_each_pairs_sweep_candidate():
    """A street render with parallax gets the sweep's candidate (flows that differ from DIS's);
    a grey pair has no usable pose and gets the DIS candidate twice, chosen against geometry."""
    from viewsynth.model.init import NO_GEOMETRY_LOGIT

    tex = synth.make_textures(7, count=8)
    street = synth.street_triplet(7, tex, width=512, height=256, equirect=True)
    grey = dataclasses.replace(
        street, img0=np.full_like(street.img0, 0.5), img1=np.full_like(street.img1, 0.5)
    )
    batch = sources.stack_batch([street, grey], classical_init=True, geometry=True)
    dis, geo = batch.init.candidates
    choice = batch.init.choice
    assert geo.flow_t0.shape == (2, 256, 512, 2) and choice.shape == (2, 256, 512, 1)
    assert np.abs(geo.flow_t0[0] - dis.flow_t0[0]).mean() > 0.1
    assert np.all(np.isfinite(choice[0])) and choice[0].std() > 0.1
    np.testing.assert_array_equal(geo.flow_t0[1], dis.flow_t0[1])
    assert np.all(choice[1] == NO_GEOMETRY_LOGIT)
