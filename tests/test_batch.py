"""Training batches of a geometry network carry each pair's own sphere-sweep candidate."""

from pathlib import Path

import numpy as np

from viewsynth.evaluation.metrics import ws_psnr
from viewsynth.frames import to_uint8
from viewsynth.model.init import NO_GEOMETRY_LOGIT
from viewsynth.synth import heldout_panoramas
from viewsynth.synth.triplets import Triplet
from viewsynth.training import loop
from viewsynth.training.batch import stack_batch
from viewsynth.training.config import load_config
from viewsynth.training.logbook import read_metrics
from viewsynth.warp import backward_warp

DEBUG = Path(__file__).resolve().parents[1] / "configs" / "train_debug.yaml"


def _blend(img0, img1, f0, f1, logit, equirect):
    w0 = 1.0 / (1.0 + np.exp(-logit))
    warp0 = backward_warp(img0, f0, equirect=equirect)
    warp1 = backward_warp(img1, f1, equirect=equirect)
    return w0 * warp0 + (1.0 - w0) * warp1


def test_each_pair_of_a_batch_gets_its_own_sweep_candidate_or_dis_twice_without_a_pose():
    # Held-out renders at 256x128: pairs 0, 2 and 3 have a usable pose, pair 1 has too few
    # inliers (Sweep().last_pair() says so; measured when this test was written).
    triplets = [Triplet(a, mid, b, t, True) for a, mid, b, t in heldout_panoramas(4, 256, 128)]
    init = stack_batch(triplets, classical_init=True, geometry=True).init
    dis, geo = init.candidates
    assert geo.flow_t0.shape == dis.flow_t0.shape == (4, 128, 256, 2)
    for i in (0, 2, 3):
        # the second candidate is the sweep's own, not DIS copied, and the choice a real logit
        tr = triplets[i]
        assert np.abs(geo.flow_t0[i] - dis.flow_t0[i]).mean() > 1.0, i
        assert np.mean(init.choice[i] != NO_GEOMETRY_LOGIT) > 0.9, i
        assert init.choice[i].std() > 0.5, i
        by_dis = _blend(tr.img0, tr.img1, dis.flow_t0[i], dis.flow_t1[i], dis.logit[i], True)
        by_geo = _blend(tr.img0, tr.img1, geo.flow_t0[i], geo.flow_t1[i], geo.logit[i], True)
        gt = to_uint8(tr.mid)
        assert ws_psnr(to_uint8(by_geo), gt) > ws_psnr(to_uint8(by_dis), gt) + 1.0, i  # parallax
    # the pair with no usable pose: DIS in both slots, and a choice that keeps DIS
    np.testing.assert_array_equal(geo.flow_t0[1], dis.flow_t0[1])
    np.testing.assert_array_equal(geo.flow_t1[1], dis.flow_t1[1])
    np.testing.assert_array_equal(geo.logit[1], dis.logit[1])
    assert np.all(init.choice[1] == NO_GEOMETRY_LOGIT)
    # a 2D-only network's batches carry no second candidate
    assert len(stack_batch(triplets[:1], classical_init=True, geometry=False).init.candidates) == 1


def test_training_sweeps_with_the_networks_geometry(monkeypatch):
    # Training and `viewsynth finetune` compute the sweep candidate as the network will be given
    # it (GeometrySettings(): 256 columns), not as `--method sweep` makes its frames (384): at
    # 512 wide the two give other candidates.
    from viewsynth.interpolators import GeometrySettings, Sweep

    pairs = heldout_panoramas(1, 512, 256)
    triplets = [Triplet(a, mid, b, t, True) for a, mid, b, t in pairs]
    widths = []
    candidates = Sweep.candidates

    def spy(self, *args, **kwargs):
        widths.append(self.settings.sweep.work_width)
        return candidates(self, *args, **kwargs)

    monkeypatch.setattr(Sweep, "candidates", spy)
    ours = stack_batch(triplets, classical_init=True, geometry=True).init.candidates[1]
    assert widths == [GeometrySettings().sweep.work_width] == [256]
    a, mid, b, t = pairs[0]
    (own,) = Sweep().candidates(a, b, [t], equirect=True)  # --method sweep's 384 columns
    assert widths[-1] == 384 and np.abs(ours.flow_t0[0] - own[0]).max() > 0.1


def test_ordinary_images_get_dis_twice_without_asking_the_sweep(monkeypatch):
    # The product gives ordinary photos to the 2D network (rnn.PHOTOS), so a geometry network's
    # perspective crops keep the DIS candidate twice, as the shipped recipe trained them.
    from viewsynth.interpolators import Sweep

    asked = []
    monkeypatch.setattr(Sweep, "candidates", lambda *a, **k: asked.append(1))
    rng = np.random.default_rng(0)
    a = rng.random((64, 96, 3), dtype=np.float32)
    b = np.roll(a, 3, axis=1)
    init = stack_batch([Triplet(a, a, b, 0.5, False)], classical_init=True, geometry=True).init
    dis, geo = init.candidates
    assert not asked
    np.testing.assert_array_equal(geo.flow_t0, dis.flow_t0)
    assert np.all(init.choice == NO_GEOMETRY_LOGIT)


def test_a_photos_networks_batch_sweeps_ordinary_images_with_their_field_of_view(monkeypatch):
    # data.pinhole_sweep (the photos network's recipe): each perspective row asks the sweep as
    # the product asks it for a photo, with the row's field of view where known (a render's; a
    # crop's is not known: the sweep assumes 60 degrees), and a pose-less row keeps DIS twice.
    from viewsynth.interpolators import Sweep
    from viewsynth.training import augment

    asked = []
    monkeypatch.setattr(
        Sweep, "candidates", lambda self, a, b, t, **k: asked.append((k["equirect"], k["hfov"]))
    )
    rng = np.random.default_rng(0)
    a = rng.random((64, 96, 3), dtype=np.float32)
    b = np.roll(a, 3, axis=1)
    rows = [Triplet(a, a, b, 0.5, False, hfov=70.0), Triplet(a, a, b, 0.5, False)]
    rows.append(augment.crop(Triplet(a, a, b, 0.5, False, hfov=70.0), 0, 0, 64, 64))
    init = stack_batch(rows[:2], classical_init=True, geometry=True, pinhole=True).init
    assert asked == [(False, 70.0), (False, None)]
    assert np.all(init.choice == NO_GEOMETRY_LOGIT)  # (the sweep said None: no pose)
    assert rows[2].hfov is None
    asked.clear()
    stack_batch(rows[:2], classical_init=True, geometry=True)  # the default network's recipe
    assert not asked


def test_a_geometry_network_learns_the_choice_from_such_a_batch(tmp_path):
    # Two held-out renders with a usable pose: the tiny geometry network, selection only, starts
    # at the classical fusion and 8 steps (K = 1, as it ships) on this batch lower its loss through
    # the choice.
    pairs = heldout_panoramas(3, 256, 128)
    triplets = [Triplet(a, mid, b, t, True) for a, mid, b, t in (pairs[0], pairs[2])]
    batch = stack_batch(triplets, classical_init=True, geometry=True)
    overrides = ["steps=8", "iters=1", "validation.every=0", "model.geometry=true", "model.motion_channels=16",
                 "optim.learning_rate=0.004"]  # fmt: skip
    cfg = load_config(DEBUG, [f"workdir={tmp_path / 'run'}", *overrides])
    result = loop.train(cfg, batches=lambda step: batch)
    losses = [
        r["loss"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "train"
    ]
    assert len(losses) == 8 and losses[-1] < 0.97 * losses[0], losses
    # The update's last logit is the choice: its head starts at zero and moved.
    head = np.asarray(result.model.update.delta_out.kernel[...])
    assert head.shape[-1] == 3 and np.abs(head[..., 2]).max() > 1e-4
