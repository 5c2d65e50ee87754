"""Real 360 walks as a training source: the middle frame turned to the halfway view, batches that
draw from the walks, one-line errors for a bad walk."""

from pathlib import Path

import numpy as np
import pytest

from viewsynth import frames, synth
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.metrics import ws_psnr
from viewsynth.evaluation.rotation import rotate_equirect, rotation_matrix
from viewsynth.training import real360, sources

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def street():
    textures = synth.make_textures(5, count=6, size=64)
    return synth.street_triplet(11, textures, width=256, height=128, supersample=1)


def test_align_middle_undoes_the_cameras_wobble(street):
    # A camera standing still: flow's halfway prediction is the frame itself, so the middle frame,
    # turned by a known rotation, must be turned back by that rotation.
    still = street.img0
    wobble = (3.0, -2.0, 1.5)  # yaw, pitch, roll in degrees
    turned = np.clip(rotate_equirect(still, rotation_matrix(*wobble), sharp=True), 0, 1)
    out = real360.align_middle(still, turned.astype(np.float32), still)
    np.testing.assert_allclose(out.angles_deg, wobble, atol=0.3)
    before = ws_psnr(frames.to_uint8(turned), frames.to_uint8(still))
    after = ws_psnr(frames.to_uint8(out.mid), frames.to_uint8(still))
    assert after > before + 8.0, (before, after)
    # A middle frame that already looks the halfway way is left as it is.
    kept = real360.align_middle(still, still, still)
    assert kept.angles_deg == (0.0, 0.0, 0.0) and kept.mid is still


def test_align_middle_finds_where_along_the_path_the_middle_shot_was():
    textures = synth.make_textures(5, count=6, size=64)
    for t in (0.25, 0.75):
        shot = synth.street_triplet(3, textures, width=256, height=128, supersample=1, t=t)
        fit = real360.align_middle(shot.img0, shot.mid, shot.img1, times=(0.25, 0.5, 0.75))
        assert fit.t == t, (t, fit.t)
    # One time: the protocol's midpoint, whatever the frames say.
    assert real360.align_middle(shot.img0, shot.mid, shot.img1).t == 0.5


def _walk(folder: Path, street, n: int = 5) -> None:
    # A "walk" of n shots: the render's three views and blends between them, as 2:1 JPEG frames.
    views = [street.img0, street.mid, street.img1]
    folder.mkdir(parents=True)
    for i in range(n):
        s = i / (n - 1) * 2
        k = min(int(s), 1)
        image = (1 - (s - k)) * views[k] + (s - k) * views[k + 1]
        frames.write_image(folder / f"{i + 1:02d}.jpg", frames.to_uint8(image))


def test_panorama_batches_draw_aligned_triplets_from_the_walks(tmp_path, street):
    _walk(tmp_path / "walks" / "mine", street)
    cfg = sources.DataConfig(
        batch_size=2, pano_width=64, pano_height=32, crop=16, mix_video=0.0, supersample=1,
        textures=5, texture_size=16, photo_fraction=0.0, pano_fraction=1.0,
        real360_walks=("walks/mine",), real360_gaps=(1, 2), mix_real360=1.0,
        data_root=str(tmp_path),
    )  # fmt: skip
    data = sources.TrainingData(cfg, seed=0, classical_init=False)
    # 5 shots: 3 middles at gap 1, 1 at gap 2.
    assert data.real360 is not None and len(data.real360) == 4
    assert "real 360 walks (4 triplets: mine)" in data.sources
    shot = frames.resize(frames.read_image(tmp_path / "walks" / "mine" / "02.jpg").image, 64, 32)
    firsts = [data.real360.triplet(k).img0 for k in range(len(data.real360))]
    assert min(np.abs(f - shot).max() for f in firsts) < 1 / 255 + 1e-6
    raw = data._raw(0, 0, True, data.textures(0))
    assert raw.equirect and raw.img0.shape == (32, 64, 3)
    assert any(np.array_equal(raw.img0, f) for f in firsts)
    # Without the walks mixed in, the same step renders a street instead.
    plain = sources.TrainingData(
        sources.DataConfig(**{**cfg.__dict__, "mix_real360": 0.0}), seed=0, classical_init=False
    )
    assert plain.real360 is None
    assert not any(
        np.array_equal(plain._raw(0, 0, True, plain.textures(0)).img0, f) for f in firsts
    )


def test_a_bad_walk_is_a_one_line_error_naming_it(tmp_path, street):
    with pytest.raises(ViewsynthError, match=r"nowhere: no such folder"):
        real360.Real360Triplets(["nowhere"], root=tmp_path)
    (tmp_path / "short").mkdir()
    frames.write_image(tmp_path / "short" / "01.jpg", frames.to_uint8(street.img0))
    with pytest.raises(ViewsynthError, match=r"short: 1 image files"):
        real360.Real360Triplets(["short"], root=tmp_path)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        frames.write_image(flat / f"{i}.jpg", np.zeros((40, 60, 3), np.uint8))
    with pytest.raises(ViewsynthError, match=r"0.jpg: 60x40 is not a 2:1 equirect"):
        real360.Real360Triplets([flat], root=tmp_path)
    with pytest.raises(ValueError, match="needs data.real360_walks"):
        sources.DataConfig(mix_real360=0.5)


@pytest.mark.skipif(not (DATA / "real360_dev").is_dir(), reason="needs ../shared/data")
def test_real_walk_middles_are_turned_closer_to_flows_halfway_view():
    walk = real360.Real360Triplets(
        ["real360_dev/gopro_max_garden_a"], root=DATA, gaps=(1,), width=256
    )
    assert len(walk) == 8
    # Hand-held wobble: most middles need a turn, none beyond the search's bound.
    turns = np.abs(np.array(walk.angles))
    assert (turns.max(axis=1) > 0.5).sum() >= 5 and turns.max() <= 5.0
