"""Fine-tuning reads a capture as ``interpolate`` does: time order, segments, yaw (no training here;
the training run itself is tested in test_train.py)."""

from __future__ import annotations

import numpy as np
import pytest
from capture_fixtures import write_image

from viewsynth import frames
from viewsynth.capture import iter_frames, load_capture
from viewsynth.errors import ViewsynthError
from viewsynth.training.finetune import FinetuneConfig, capture_triplets
from viewsynth.training.targets import triplet_choices


def _flat(value: int) -> np.ndarray:
    """A 48x32 (not 2:1, so perspective, never turned) frame of one grey level."""
    return np.full((32, 48, 3), value, np.uint8)


def _timed(folder, names_and_seconds):
    """PNG frames (exact pixels) with EXIF times; frame k of the time order has grey level 20 k."""
    order = sorted(names_and_seconds, key=lambda item: item[1])
    for name, seconds in names_and_seconds:
        level = 20 * order.index((name, seconds))
        minute, second = divmod(seconds, 60)
        write_image(
            folder / name, _flat(level), exif_time=f"2024:05:01 10:{minute:02d}:{second:02d}"
        )


def _levels(triplets) -> list[tuple[int, int, int]]:
    """Each triplet as the grey levels (time ranks x 20) of its img0, mid and img1."""
    out = []
    for k in range(len(triplets)):
        tr = triplets.triplet(k)
        out.append(tuple(int(round(im.mean() * 255)) for im in (tr.img0, tr.mid, tr.img1)))
    return out


def test_triplets_pair_shots_by_time_not_by_name(tmp_path):
    # Names in natural order (a1, a2, a10, b, c) are not the time order.
    _timed(tmp_path, [("a1.png", 40), ("a2.png", 0), ("a10.png", 30), ("b.png", 10), ("c.png", 20)])
    triplets, capture = capture_triplets(tmp_path, FinetuneConfig())
    assert capture.time_source == "exif"
    assert [s.name for s in capture.shots] == ["a2.png", "b.png", "c.png", "a10.png", "a1.png"]
    assert _levels(triplets) == [(0, 20, 40), (20, 40, 60), (40, 60, 80)]
    assert not triplets.equirect and triplets.shape == (32, 48)


def test_triplets_never_straddle_a_segment_gap(tmp_path):
    # 0, 10, 20, 30 s, then a gap over capture.time_gap (60 s), then 200, 210, 220 s.
    seconds = [0, 10, 20, 30, 200, 210, 220]
    _timed(tmp_path, [(f"f{i}.png", s) for i, s in enumerate(seconds)])
    triplets, capture = capture_triplets(tmp_path, FinetuneConfig(gaps=(1, 2)))
    assert [len(segment) for segment in capture.segments] == [4, 3]
    # Gap 1: middles 1, 2 and 5. Gap 2 would pair (1, 3, 5) and (2, 4, 6) across the cut; inside
    # a segment of 4 or 3 shots it has no middle.
    assert _levels(triplets) == [(0, 20, 40), (20, 40, 60), (80, 100, 120)]
    odd, _ = capture_triplets(tmp_path, FinetuneConfig(targets="odd"))
    even, _ = capture_triplets(tmp_path, FinetuneConfig(targets="even"))
    assert _levels(odd) == [(0, 20, 40), (80, 100, 120)]  # middles 1 and 5 of capture.shots
    assert _levels(even) == [(20, 40, 60)]  # middle 2; 4 starts its segment, 6 ends it


def test_a_parity_fine_tune_never_trains_on_what_evaluate_scores_of_the_other(tmp_path):
    # The Lund protocol on a capture whose clock order is not its names' order: parity counted in
    # capture order made `finetune --targets even` train on f1, which `evaluate --parity odd` then
    # scored as unseen. Both now count frames as evaluate does.
    from viewsynth.evaluation.datasets import open_dataset

    _timed(tmp_path, [(f"f{k}.png", 10 * rank) for k, rank in enumerate([0, 2, 1, 3, 4, 6, 5])])
    for targets, parity in (("even", "odd"), ("odd", "even")):
        triplets, capture = capture_triplets(tmp_path, FinetuneConfig(targets=targets))
        trained = {capture.shots[m].name.removesuffix(".png") for _, m, _ in triplets.choices}
        scored = {s.name for s in open_dataset(tmp_path, parity=parity).samples()}
        assert trained and scored and not trained & scored, (trained, scored)


def test_triplet_choices_stay_inside_segments():
    lengths = [5, 2, 6]
    starts = [0, 5, 7]
    for gaps in [(1,), (1, 2), (3,)]:
        for targets in ("all", "even", "odd"):
            for a, k, b in triplet_choices(lengths, gaps, targets):
                seg = max(i for i, s in enumerate(starts) if s <= k)
                assert starts[seg] <= a < k < b < starts[seg] + lengths[seg]
                assert b - k == k - a in gaps
                assert targets == "all" or (k % 2 == 1) == (targets == "odd")
    everything = triplet_choices(lengths, (1,), "all")
    odd, even = triplet_choices(lengths, (1,), "odd"), triplet_choices(lengths, (1,), "even")
    assert sorted(odd + even) == sorted(everything) and not set(odd) & set(even)
    assert [k for _, k, _ in everything] == [1, 2, 3, 8, 9, 10, 11]


def test_panoramas_are_trained_as_interpolate_sees_them(tmp_path):
    # Tagged headings turn each panorama (yaw != 0): the training frames are iter_frames' frames
    # at training size, not the files as stored.
    for i, heading in enumerate([0.0, 30.0, 60.0]):
        write_image(
            tmp_path / f"p{i}.png",
            size=(128, 64),
            seed=i,
            exif_time=f"2024:05:01 10:00:{10 * i:02d}",
            pose_heading=heading,
        )
    cfg = FinetuneConfig(pano_width=64)
    triplets, capture = capture_triplets(tmp_path, cfg)
    assert triplets.equirect and triplets.shape == (32, 64)
    assert any(abs(s.yaw) > 10 for s in capture.shots)
    want = [
        frames.to_uint8(frames.resize(im, 64, 32)) for _, im in iter_frames(capture, capture.shots)
    ]
    got = [triplets.frames[k] for k in (0, 1, 2)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    stored = frames.to_uint8(frames.resize(frames.read_image(tmp_path / "p1.png").image, 64, 32))
    assert not np.array_equal(got[1], stored)


def test_too_few_frames_and_no_triplet_in_any_segment_are_clear_errors(tmp_path):
    two = tmp_path / "two"
    two.mkdir()
    _timed(two, [("a.png", 0), ("b.png", 10)])
    with pytest.raises(
        ViewsynthError, match=r"fine-tuning needs at least 3 readable frames, found 2"
    ):
        capture_triplets(two, FinetuneConfig())
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    _timed(pairs, [("a.png", 0), ("b.png", 10), ("c.png", 200), ("d.png", 210)])
    with pytest.raises(ViewsynthError) as err:
        capture_triplets(pairs, FinetuneConfig())
    assert str(err.value) == (
        f"{pairs}: no middle frame has neighbours at gaps [1] within a segment "
        "(segments of [2, 2] shots)"
    )
    assert load_capture(pairs).segments  # the capture itself is fine for interpolate


def test_a_panoramas_middle_frame_is_turned_to_the_halfway_view(tmp_path):
    # Shots 0 and 2 see one scene from one place; shot 1 is the same view with the camera turned
    # (yaw 3, pitch -2, roll 1.5 degrees). Trained as it is, the target would teach a turn no
    # interpolator makes: with align_middle (the default) the middle frame is turned back.
    from viewsynth import synth
    from viewsynth.evaluation.metrics import ws_psnr
    from viewsynth.evaluation.rotation import rotate_equirect, rotation_matrix

    scene = synth.street_triplet(
        11, synth.make_textures(5, count=6, size=64), width=256, height=128, supersample=1
    ).img0
    wobbled = np.clip(rotate_equirect(scene, rotation_matrix(3.0, -2.0, 1.5), sharp=True), 0, 1)
    dimmer = scene * 0.96 + 0.02
    for i, image in enumerate([scene, wobbled, dimmer]):
        write_image(
            tmp_path / f"p{i}.png",
            frames.to_uint8(image),
            exif_time=f"2024:05:01 10:00:{10 * i:02d}",
        )
    target = frames.to_uint8(scene)
    turned, _ = capture_triplets(tmp_path, FinetuneConfig(pano_width=256))
    raw, _ = capture_triplets(tmp_path, FinetuneConfig(pano_width=256, align_middle=False))
    assert turned.equirect and len(turned) == 1 and set(turned.mids) == {0} and not raw.mids
    before = ws_psnr(frames.to_uint8(raw.triplet(0).mid), target)
    after = ws_psnr(frames.to_uint8(turned.triplet(0).mid), target)
    assert after > before + 6.0, (before, after)
    # The inputs are left as they were.
    np.testing.assert_array_equal(turned.triplet(0).img0, raw.triplet(0).img0)


def test_a_work_folder_resumes_only_the_fine_tune_it_holds(tmp_path):
    """``--workdir`` resumed any checkpoint there, another capture's too: the folder now records
    what it was made for; more steps may continue it, another capture or setting is refused."""
    from viewsynth.training.finetune import CLAIM, _claim

    run, base = tmp_path / "work", tmp_path / "base.msgpack"
    cfg = FinetuneConfig()
    _claim(run, tmp_path / "a", base, cfg)
    assert (run / CLAIM).is_file()
    _claim(run, tmp_path / "a", base, FinetuneConfig(steps=900, log_every=1))  # continued
    for capture, other in ((tmp_path / "b", cfg), (tmp_path / "a", FinetuneConfig(gaps=(2,)))):
        with pytest.raises(ViewsynthError, match="holds another fine-tune's checkpoints"):
            _claim(run, capture, base, other)
    # A training run's work folder (checkpoints/, config.yaml, no claim) got a finetune.json
    # written into it, and was refused only later, by the loop, after the capture was read.
    train_run = tmp_path / "runs" / "train_debug"
    (train_run / "checkpoints" / "6").mkdir(parents=True)
    with pytest.raises(ViewsynthError, match="holds another kind of run's checkpoints"):
        _claim(train_run, tmp_path / "a", base, cfg)
    assert sorted(p.name for p in train_run.iterdir()) == ["checkpoints"]
