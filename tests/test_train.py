"""The training loop on configs/train_debug.yaml: learning, resume, divergence, data parallelism;
the shipped model's recipe (configs/shipped/) and the file it ships."""

import dataclasses
import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import yaml
from flax import nnx

from viewsynth import config as config_lib
from viewsynth.errors import ConfigError, ViewsynthError
from viewsynth.model.weights import (
    DEFAULT_WEIGHTS,
    FLOW_ONLY_WEIGHTS,
    PHOTOS_WEIGHTS,
    load_described,
    load_weights,
    read_meta,
)
from viewsynth.training import loop, sources
from viewsynth.training.checkpoint import Checkpoints
from viewsynth.training.config import OptimConfig, TrainConfig, load_config
from viewsynth.training.logbook import read_metrics
from viewsynth.training.step import make_optimizer, skipped_updates

ROOT = Path(__file__).resolve().parents[1]
DEBUG = ROOT / "configs" / "train_debug.yaml"
# The classical start is near an optimum already, and the network only selects (its flows are the
# start's): 12 steps on one batch gain about a per cent.
LOSS_DROP = 0.995
SHIPPED = sorted((ROOT / "configs" / "shipped").glob("*.yaml"))  # the 2D network's recipe
# the geometry network's recipe, run after the 2D one
GEOMETRY_RECIPE = sorted((ROOT / "configs" / "shipped" / "geometry").glob("*.yaml"))
# the photos network's, run after the geometry one, from its shipped weights
PHOTOS_RECIPE = sorted((ROOT / "configs" / "shipped" / "photos").glob("*.yaml"))


def _cfg(workdir, *extra):
    # One batch shape (panoramas), one schedule (the optimiser is part of the step's static graph)
    # and no validation keep these tests to one compile of the step. The loop's mechanics are the
    # same for both networks: the 2D one keeps them fast (no sweep per triplet).
    return load_config(
        DEBUG,
        [f"workdir={workdir}", "steps=12", "data.pano_fraction=1.0", "validation.every=0",
         "model.geometry=false", *extra],
    )  # fmt: skip


@pytest.fixture(scope="module")
def fixed_batch():
    cfg = _cfg("unused")
    return sources.TrainingData(cfg.data, cfg.seed, geometry=cfg.model.geometry).batch(0)


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory, fixed_batch):
    """The debug config trained once for the module: 12 steps on the fixed batch, validated on
    held-out panoramas at steps 0 and 12. Several tests read what it left in its work folder."""
    workdir = tmp_path_factory.mktemp("debug_run") / "run"
    cfg = _cfg(workdir, "validation.every=12", "validation.perspective=0")
    result = loop.train(cfg, batches=lambda step: fixed_batch, meta={"note": "test"})
    return cfg, result


def _metrics(workdir):
    return [r for r in read_metrics(Path(workdir) / "metrics.jsonl") if r["kind"] == "train"]


def _params(model):
    return jax.tree.leaves(nnx.state(model, nnx.Param))


def test_configs_load_and_unknown_keys_are_errors():
    cfg = load_config(DEBUG)
    assert cfg.data.pano_width == 64 and cfg.data.pano_height == 32 and cfg.steps == 6
    with pytest.raises(ConfigError, match=r"train_debug.yaml.optim: unknown key 'learning_rat'"):
        load_config(DEBUG, ["optim.learning_rat=1"])
    with pytest.raises(ConfigError, match="data.crop = 20 is not a multiple of the model stride 8"):
        load_config(DEBUG, ["data.crop=20"])
    for key in ("ssim_weight", "mse_weight"):
        with pytest.raises(ConfigError, match=r"train_debug.yaml.loss: .*mse_weight must be >= 0$"):
            load_config(DEBUG, [f"loss.{key}=-1"])
    with pytest.raises(ConfigError, match="validation.video needs held-out frames"):
        load_config(DEBUG, ["validation.video=4"])
    with pytest.raises(ConfigError, match=r"augment.degrade_target"):
        load_config(DEBUG, ["data.augment.degrade_target=maybe"])
    with pytest.raises(ConfigError, match=r"pinhole_sweep"):
        load_config(DEBUG, ["data.pinhole_sweep=maybe"])


@pytest.mark.parametrize("recipe", [SHIPPED, GEOMETRY_RECIPE], ids=["2d", "geometry"])
def test_every_shipped_step_parses_and_starts_from_the_previous_steps_output(recipe):
    # make train-shipped runs each recipe's configs in name order: each step starts from the
    # previous step's weights (best or last) under runs/, never from the shipped file it is meant
    # to reproduce, and can load them (the model differs at most in fields that shape no
    # parameter and in the refinement's heads, which start at zero when added).
    assert len(recipe) >= 2
    steps = [load_config(path) for path in recipe]
    assert steps[0].init_weights == ""
    for path in recipe:
        assert path.read_text().startswith(
            f"# viewsynth train --config {path.relative_to(ROOT).as_posix()}"
        )
    for before, after in zip(steps, steps[1:], strict=False):
        assert Path(after.init_weights).parent == Path(before.workdir), after.workdir
        assert Path(after.init_weights).name in ("best.msgpack", "last.msgpack")
        free = {name: getattr(after.model, name) for name in loop.RUNTIME_MODEL_FIELDS}
        assert dataclasses.replace(before.model, **free) == after.model, after.workdir
        if after.init_step:  # finishing a stopped run: the same run from the step it stopped at
            assert before.stop_step == after.init_step and before.max_minutes == 0
            same = ("seed", "steps", "iters", "data", "optim", "loss", "validation")
            assert all(getattr(before, k) == getattr(after, k) for k in same)
    assert len({s.workdir for s in steps}) == len(steps)


def test_the_shipped_weights_load_and_record_their_runs():
    # flow_only.msgpack: the 2D recipe's last step, a finished run.
    flat, record = load_described(FLOW_ONLY_WEIGHTS)
    meta = read_meta(FLOW_ONLY_WEIGHTS)
    assert meta["finished"] is True and meta["steps"] == record["trained"]["steps"] >= 1
    assert record["iters"] == flat.config.iters >= 1  # the K it runs at by default
    # The recipe's last step trains this network (up to the fields that shape no parameter).
    last = load_config(SHIPPED[-1]).model
    free = {name: getattr(flat.config, name) for name in loop.RUNTIME_MODEL_FIELDS}
    assert dataclasses.replace(last, **free) == flat.config and not flat.config.geometry
    # default.msgpack: the geometry recipe's last step's best validated weights, stored to run
    # at its K.
    shipped, record = load_described(DEFAULT_WEIGHTS)
    last = load_config(GEOMETRY_RECIPE[-1])
    assert shipped.config.geometry and shipped.config == last.model
    assert record["iters"] == last.model.iters == 1
    assert 1 <= record["trained"]["steps"] <= last.steps
    # photos.msgpack: the photos recipe's last weights, default.msgpack fine-tuned with the
    # pinhole sweep's candidate; its record says it sweeps photos itself.
    (step,) = [load_config(path) for path in PHOTOS_RECIPE]
    assert (
        PHOTOS_RECIPE[0]
        .read_text()
        .startswith(f"# viewsynth train --config {PHOTOS_RECIPE[0].relative_to(ROOT).as_posix()}")
    )
    assert step.data.pinhole_sweep and step.model.geometry
    assert Path(step.init_weights) == DEFAULT_WEIGHTS.relative_to(ROOT)
    photos, record = load_described(PHOTOS_WEIGHTS)
    assert photos.config == shipped.config == step.model and record["photos"] is True
    assert record["iters"] == 1 and record["trained"]["steps"] == step.steps
    assert record["trained"]["config"] == PHOTOS_RECIPE[0].relative_to(ROOT).as_posix()
    assert load_described(DEFAULT_WEIGHTS)[1]["photos"] is False


def test_schedule_warms_up_then_decays():
    _, schedule = make_optimizer(
        OptimConfig(learning_rate=1.0, warmup_steps=10, end_fraction=0.1), 100
    )
    assert float(schedule(0)) == 0.0 and float(schedule(10)) == pytest.approx(1.0)
    assert float(schedule(55)) < 1.0 and float(schedule(100)) == pytest.approx(0.1)


def test_loss_goes_down_on_a_fixed_batch(debug_run):
    cfg, result = debug_run
    assert (cfg.optim.learning_rate, cfg.optim.warmup_steps) == (0.001, 1)
    losses = [r["loss"] for r in _metrics(cfg.workdir)]
    # Step 1 runs at the warm-up's zero learning rate; from then on the fit improves.
    assert len(losses) == 12 and losses[1] == losses[0]
    # metrics.jsonl logs the rate each step's update took: zero for step 1, the peak for step 2
    rates = [r["lr"] for r in _metrics(cfg.workdir)]
    assert rates[:2] == [0.0, pytest.approx(0.001)] and rates[-1] < rates[1]
    assert losses[-1] < LOSS_DROP * losses[0] and losses[-1] < min(losses[:6])
    assert all(b < a for a, b in zip(losses[1:], losses[2:], strict=False))  # every step helps
    saved = yaml_load(Path(cfg.workdir) / "config.yaml")
    assert saved["steps"] == 12 and saved["model"]["geometry"] is False
    # The finished run leaves its own last weights beside the best validated ones.
    meta = read_meta(Path(cfg.workdir) / "last.msgpack")
    assert meta["steps"] == 12 and meta["finished"] is True


def test_a_run_stopped_by_max_minutes_keeps_its_latest_weights(tmp_path, fixed_batch):
    cfg = _cfg(tmp_path / "run", "max_minutes=1e-6")  # out of time after the first step
    result = loop.train(cfg, batches=lambda step: fixed_batch)
    assert result.end_step == 1
    meta = read_meta(tmp_path / "run" / "last.msgpack")
    assert meta["steps"] == 1 and meta["finished"] is False
    assert (tmp_path / "run" / "checkpoints" / "1").is_dir()  # and it resumes from there


def yaml_load(path):
    import yaml

    return yaml.safe_load(Path(path).read_text())


def test_resume_continues_the_step_counter_and_reproduces_an_unbroken_run(tmp_path, fixed_batch):
    rng = np.random.default_rng(0)
    # Different data per step, so a resume that replayed or skipped a step would show.
    batches = [
        dataclasses.replace(fixed_batch, t=rng.uniform(0.2, 0.8, 2).astype(np.float32))
        for _ in range(12)
    ]

    straight = loop.train(_cfg(tmp_path / "a"), batches=lambda s: batches[s])
    assert (straight.start_step, straight.end_step) == (0, 12)

    def interrupted(step):
        if step == 8:
            raise KeyboardInterrupt
        return batches[step]

    with pytest.raises(KeyboardInterrupt):
        loop.train(_cfg(tmp_path / "b"), batches=interrupted)
    assert not (tmp_path / "b" / "last.msgpack").exists()  # an interrupted run has not finished
    resumed = loop.train(_cfg(tmp_path / "b"), batches=lambda s: batches[s])
    assert (resumed.start_step, resumed.end_step) == (8, 12)
    assert [r["step"] for r in _metrics(tmp_path / "b")] == list(range(1, 13))
    assert resumed.last_loss == pytest.approx(straight.last_loss, rel=1e-5)

    # The checkpoints of both runs hold the same parameters at step 12.
    cfg = _cfg(tmp_path / "a")
    models = []
    for run in ("a", "b"):
        model = loop.build_model(cfg)
        opt = nnx.Optimizer(model, make_optimizer(cfg.optim, cfg.steps)[0], wrt=nnx.Param)
        ckpt = Checkpoints(tmp_path / run / "checkpoints")
        assert ckpt.latest_step() == 12
        record = ckpt.restore(12, model, opt)
        ckpt.close()
        assert record["step"] == 12
        models.append(model)
    for x, y in zip(_params(models[0]), _params(models[1]), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-7)


def test_a_resume_with_other_settings_is_refused_before_anything_is_written(tmp_path):
    # A work folder holding a run's checkpoints and its config.yaml, as a launch leaves them.
    workdir = tmp_path / "run"
    first = _cfg(workdir)
    model = loop.build_model(first)
    opt = nnx.Optimizer(model, make_optimizer(first.optim, first.steps)[0], wrt=nnx.Param)
    ckpt = Checkpoints(workdir / "checkpoints")
    ckpt.save(6, model, opt, {})
    ckpt.close()
    saved = yaml.safe_dump(config_lib.to_dict(first), sort_keys=False)
    (workdir / "config.yaml").write_text(saved)

    def no_batches(step):
        raise AssertionError("a refused launch must not train")

    # Another seed (or rate, or data) would continue the steps done as another run's: a silent
    # mix that config.yaml, rewritten, then recorded as the second run alone.
    for change, key in (("seed=5", "seed"), ("optim.learning_rate=0.1", "optim.learning_rate")):
        with pytest.raises(ConfigError) as err:
            loop.train(_cfg(workdir, change), batches=no_batches)
        message = str(err.value)
        assert f"has {key}: " in message and "new workdir" in message and "\n" not in message
        assert (workdir / "config.yaml").read_text() == saved  # nothing written
    # What steers only the launch may change; a longer schedule is said.
    said = []
    for change in ("log_every=3", "max_minutes=5", "validation.every=4", "steps=20"):
        loop.check_resume(_cfg(workdir, change), said.append)
    assert said == [
        "steps 12 -> 20: the learning-rate schedule now spans 20 steps (the steps done followed "
        "the old one)"
    ]


def test_init_step_shifts_the_optimisers_schedule():
    # Adam's first update is about -lr * sign(g): a run begun at step k takes schedule(k) first,
    # as the unbroken run's (k + 1)-th update did, not schedule(0) (zero, in the warm-up).
    optim = OptimConfig(learning_rate=1.0, warmup_steps=4, end_fraction=0.1, weight_decay=0.0)
    params = {"w": jnp.zeros(3)}
    grads = {"w": jnp.ones(3)}
    for offset in (0, 2, 7):
        tx, schedule = make_optimizer(optim, 10, offset)
        update, _ = tx.update(grads, tx.init(params), params)
        np.testing.assert_allclose(np.asarray(update["w"]), -float(schedule(offset)), rtol=1e-4)
    assert float(schedule(2)) == pytest.approx(0.5)  # the schedule itself is the whole run's


def test_stop_step_then_init_step_finishes_a_run_from_the_weights_it_left(tmp_path, fixed_batch):
    rng = np.random.default_rng(1)
    batches = [
        dataclasses.replace(fixed_batch, t=rng.uniform(0.2, 0.8, 2).astype(np.float32))
        for _ in range(12)
    ]
    stopped = loop.train(_cfg(tmp_path / "a", "stop_step=5"), batches=lambda s: batches[s])
    assert (stopped.start_step, stopped.end_step) == (0, 5)
    meta = read_meta(tmp_path / "a" / "last.msgpack")
    assert meta["steps"] == 5 and meta["finished"] is False
    assert Checkpoints(tmp_path / "a" / "checkpoints").latest_step() == 5

    seen = []

    def recorded(step):
        seen.append(step)
        return batches[step]

    weights = tmp_path / "a" / "last.msgpack"
    cfg = _cfg(tmp_path / "b", f"init_weights={weights}", "init_step=5")
    finished = loop.train(cfg, batches=recorded)
    assert (finished.start_step, finished.end_step) == (5, 12)
    assert seen == list(range(5, 12))  # the data stream goes on where the first run stopped
    assert [r["step"] for r in _metrics(tmp_path / "b")] == list(range(6, 13))
    assert read_meta(tmp_path / "b" / "last.msgpack")["finished"] is True
    assert Checkpoints(tmp_path / "b" / "checkpoints").latest_step() == 12
    # It starts from the weights it was given, not from a fresh network.
    assert finished.model is not None
    start = load_weights(weights)
    moved = [
        float(np.abs(np.asarray(x) - np.asarray(y)).max())
        for x, y in zip(_params(start), _params(finished.model), strict=True)
    ]
    assert 0 < max(moved) < 0.05

    with pytest.raises(ConfigError, match="init_step needs init_weights"):
        load_config(DEBUG, ["init_step=2"])
    with pytest.raises(ConfigError, match="init_step 6 must be in 0 .. steps - 1"):
        load_config(DEBUG, [f"init_weights={weights}", "init_step=6"])
    with pytest.raises(ConfigError, match="stop_step 7 must be in 0 .. steps"):
        load_config(DEBUG, ["stop_step=7"])


def test_an_interrupt_checkpoints_the_steps_done_so_far(tmp_path, fixed_batch):
    def interrupted(step):
        if step == 5:
            raise KeyboardInterrupt  # what Ctrl-C or `viewsynth train`'s SIGTERM handler raises
        return fixed_batch

    workdir = tmp_path / "int"
    with pytest.raises(KeyboardInterrupt):
        loop.train(_cfg(workdir, "checkpoint_every=100"), batches=interrupted)
    ckpt = Checkpoints(workdir / "checkpoints")
    assert ckpt.all_steps() == [5]  # only the interrupt saved: every 100 steps never came
    ckpt.close()
    resumed = loop.train(_cfg(workdir, "checkpoint_every=100"), batches=lambda s: fixed_batch)
    assert (resumed.start_step, resumed.end_step) == (5, 12)


def test_a_checkpoint_of_another_config_is_refused_by_name_before_any_restore(tmp_path):
    def build(width):
        model = nnx.Sequential(
            nnx.Linear(3, width, rngs=nnx.Rngs(0)), nnx.Linear(width, 2, rngs=nnx.Rngs(1))
        )
        return model, nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    ckpt = Checkpoints(tmp_path / "ck")
    ckpt.save(1, *build(4), {"best": 1.0})
    ckpt.close()
    ckpt = Checkpoints(tmp_path / "ck")
    with pytest.raises(ViewsynthError) as err:
        ckpt.restore(1, *build(5))
    # the first array that differs, both shapes, on one line (Orbax's own message named neither
    # the array nor the fix, and its half-done restore printed tracebacks after it)
    message = str(err.value)
    assert "0.layers.0.bias is (4,) there, (5,) in this config" in message, message
    assert "\n" not in message and "new work folder" in message
    assert ckpt.restore(1, *build(4))["best"] == 1.0  # the same config still resumes
    ckpt.close()


def test_ctrl_c_during_a_checkpoint_save_is_raised_once_the_checkpoint_is_whole(tmp_path):
    model = nnx.Sequential(nnx.Linear(3, 4, rngs=nnx.Rngs(0)))
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    ckpt = Checkpoints(tmp_path / "ck")
    real_wait = ckpt.manager.wait_until_finished

    def interrupted_wait():
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while Orbax finishes writing
        real_wait()

    ckpt.manager.wait_until_finished = interrupted_wait
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(3, model, opt, {"best": 2.0})
    ckpt.manager.wait_until_finished = real_wait
    ckpt.close()
    # cut short, Orbax left a half-written step that the interrupt's own save then failed on
    again = Checkpoints(tmp_path / "ck")
    assert again.all_steps() == [3]
    assert again.restore(3, model, opt)["best"] == 2.0
    again.close()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_an_interrupt_right_after_an_update_labels_the_checkpoint_by_updates_done(
    tmp_path, fixed_batch, monkeypatch
):
    real_step, calls = loop.train_step, []

    def step_then_interrupt(*args, **kwargs):
        out = real_step(*args, **kwargs)  # the model and optimiser are updated in place here
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # before the loop counts the step
        return out

    monkeypatch.setattr(loop, "train_step", step_then_interrupt)
    workdir = tmp_path / "mid"
    with pytest.raises(KeyboardInterrupt):
        loop.train(_cfg(workdir, "checkpoint_every=100"), batches=lambda s: fixed_batch)
    ckpt = Checkpoints(workdir / "checkpoints")
    assert ckpt.all_steps() == [3]  # three updates were applied, so the checkpoint is step 3
    ckpt.close()


def test_an_update_with_a_non_finite_gradient_is_skipped():
    class Tiny(nnx.Module):  # the optimiser is what is tested, not the network
        def __init__(self):
            self.w = nnx.Param(jnp.ones((3, 2)))
            self.b = nnx.Param(jnp.zeros(2))

    cfg = _cfg("unused")
    model = Tiny()
    opt = nnx.Optimizer(model, make_optimizer(cfg.optim, cfg.steps)[0], wrt=nnx.Param)
    before = [np.asarray(x).copy() for x in _params(model)]
    treedef = jax.tree.structure(nnx.state(model, nnx.Param))

    def grads(w, b):
        return jax.tree.unflatten(treedef, [b, w])  # leaves in key order: b, w

    opt.update(model, grads(np.full((3, 2), np.nan, np.float32), np.ones(2, np.float32)))
    for x, y in zip(_params(model), before, strict=True):
        np.testing.assert_array_equal(np.asarray(x), y)  # nothing moved, no NaN got in
    assert skipped_updates(opt) == 1
    for _ in range(3):  # past the warm-up's zero learning rate, a finite update moves them
        opt.update(model, grads(np.ones((3, 2), np.float32), np.ones(2, np.float32)))
    after = [np.asarray(x) for x in _params(model)]
    assert all(not np.array_equal(x, y) for x, y in zip(after, before, strict=True))
    assert all(np.isfinite(x).all() for x in after)
    assert skipped_updates(opt) == 1


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, fixed_batch):
    poisoned = dataclasses.replace(fixed_batch, mid=np.full_like(fixed_batch.mid, np.nan))
    workdir = tmp_path / "nan"
    with pytest.raises(loop.TrainingDiverged) as err:
        loop.train(_cfg(workdir), batches=lambda s: poisoned if s == 4 else fixed_batch)
    ckpt_dir = (workdir / "checkpoints").resolve()
    assert str(err.value) == (
        f"step 5: loss is nan (not finite); training stopped, last good checkpoint step 4 kept in {ckpt_dir}"
    )
    ckpt = Checkpoints(workdir / "checkpoints")
    assert ckpt.all_steps() == [2, 4]
    ckpt.close()


def test_validation_scores_model_and_flow_and_keeps_the_best_weights(tmp_path, debug_run):
    cfg, result = debug_run
    workdir = Path(cfg.workdir)
    rows = [r for r in read_metrics(workdir / "metrics.jsonl") if r["kind"] == "val"]
    assert [r["step"] for r in rows] == [0, 12]
    assert result.validation.keys() == {"pano_wspsnr_model", "pano_wspsnr_flow"}
    # The flow baseline is scored once on the same held-out frames: the same at every validation.
    assert rows[0]["pano_wspsnr_flow"] == rows[1]["pano_wspsnr_flow"] > 15
    # Untrained, the network with the classical start reproduces the flow baseline.
    assert rows[0]["pano_wspsnr_model"] == pytest.approx(rows[0]["pano_wspsnr_flow"], abs=0.05)
    assert rows[1]["gain_db"] == pytest.approx(
        rows[1]["pano_wspsnr_model"] - rows[1]["pano_wspsnr_flow"]
    )
    assert (workdir / "loss.png").stat().st_size > 1000
    meta = read_meta(workdir / "best.msgpack")
    best_step = max(rows, key=lambda r: r["gain_db"])["step"]
    assert meta["note"] == "test" and meta["steps"] == best_step
    exported = tmp_path / "out.msgpack"
    loop.export_best(workdir, exported, {"wall_time_s": 1.0})
    assert read_meta(exported)["wall_time_s"] == 1.0
    assert load_weights(exported).config == cfg.model
    copied = tmp_path / "copy" / "best.msgpack"
    assert loop.export_best(workdir, copied) == meta and read_meta(copied) == meta


def test_data_parallel_over_two_devices_matches_one(tmp_path, fixed_batch, debug_run):
    """Two forced host devices: the batch is split on 'data', the losses equal the 1-device run."""
    (tmp_path / "batch.pickle").write_bytes(pickle.dumps(fixed_batch))
    script = f"""
import json, pickle, numpy as np, jax
from jax.sharding import PartitionSpec as P
from viewsynth import parallel
from viewsynth.training import loop, sources
from viewsynth.training.config import load_config
from viewsynth.training.logbook import read_metrics
from viewsynth.training.step import shard_batch
with open({str(tmp_path / "batch.pickle")!r}, "rb") as f:
    batch = pickle.load(f)
mesh = parallel.data_mesh()
img0 = shard_batch(batch, mesh)[0]
cfg = load_config({str(DEBUG)!r}, ["workdir={tmp_path / "dp"}", "steps=12", "stop_step=3",
                                   "validation.every=0", "model.geometry=false"])
loop.train(cfg, batches=lambda s: batch)
losses = [r["loss"] for r in read_metrics({str(tmp_path / "dp" / "metrics.jsonl")!r})]
print(json.dumps({{"devices": jax.device_count(), "split": img0.sharding.spec == P("data"),
                  "shard": list(img0.addressable_shards[0].data.shape), "losses": losses}}))
"""
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["devices"] == 2 and got["split"] and got["shard"] == [1, 32, 64, 3]

    # the same run's first three steps (its schedule; then stopped) on one device; the first is at
    # the warm-up's zero rate, so steps 2 and 3 compare updates made on two devices
    ref = [r["loss"] for r in _metrics(debug_run[0].workdir)][:3]
    assert len(got["losses"]) == 3 and got["losses"][2] != got["losses"][0]
    np.testing.assert_allclose(got["losses"], ref, rtol=1e-4)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(DEBUG, ["steps=3"])
    again = config_lib.from_dict(TrainConfig, config_lib.to_dict(cfg))
    assert again == cfg


def test_finetune_learns_only_the_chosen_parity_and_writes_weights(tmp_path, fixed_batch):
    from viewsynth import frames
    from viewsynth.model.network import Network
    from viewsynth.model.weights import save_weights
    from viewsynth.training.finetune import FinetuneConfig, finetune
    from viewsynth.training.targets import target_indices

    assert target_indices(7, "odd") == [1, 3, 5] and target_indices(7, "even") == [2, 4]
    capture = tmp_path / "capture"
    capture.mkdir()
    # A panorama sliding right by 2 columns per frame (names sort naturally: 2 before 10).
    base_img = fixed_batch.img0[0]
    for i, name in enumerate(["f1", "f2", "f10", "f11", "f12", "f20"]):
        frames.write_image(capture / f"{name}.png", np.roll(base_img, 2 * i, axis=1))
    cfg = _cfg(tmp_path / "unused")
    base = tmp_path / "base.msgpack"
    save_weights(base, Network(cfg.model, rngs=nnx.Rngs(0)))
    out = tmp_path / "tuned.msgpack"
    # The debug run's schedule and sizes: the compiled step is reused.
    ft = FinetuneConfig(
        steps=cfg.steps,
        iters=cfg.iters,  # the debug run's K: its compiled step serves here too
        batch_size=2,
        targets="odd",
        pano_width=64,
        report_triplets=0,
        optim=cfg.optim,
        loss=cfg.loss,
    )
    result = finetune(capture, out, ft, base=base)
    assert result.equirect and result.triplets == 2 and result.steps == 12  # middles 1 and 3
    meta = read_meta(out)
    assert meta["targets"] == "odd" and meta["steps"] == 12 and meta["finetuned_from"] == str(base)
    tuned = load_weights(out)
    moved = [
        not np.allclose(np.asarray(a), np.asarray(b))
        for a, b in zip(_params(tuned), _params(load_weights(base)), strict=True)
    ]
    assert any(moved)


def test_finetune_adapts_a_geometry_network(tmp_path):
    """The geometry network through ``finetune``: each triplet gets its sweep candidate (here a
    room seen from three points on a line, so the pose serves), the choice head moves, and the
    file it writes is a geometry network again."""
    import dataclasses

    from test_sweep import P0, P1, YAW0, room_view

    from viewsynth import frames
    from viewsynth.geometry.pose import relative_pose
    from viewsynth.model.network import Network
    from viewsynth.model.weights import save_weights
    from viewsynth.training.finetune import FinetuneConfig, finetune

    capture = tmp_path / "capture"
    capture.mkdir()
    for i in range(5):  # five shots along the line P0 -> P1 -> beyond
        p = P0 + (P1 - P0) * (i / 2.0)
        frames.write_image(capture / f"{i:02d}.png", room_view(p, YAW0, 256)[0])
    cfg = _cfg(tmp_path / "unused")
    model_cfg = dataclasses.replace(cfg.model, geometry=True, motion_channels=16)
    base = tmp_path / "base.msgpack"
    save_weights(base, Network(model_cfg, rngs=nnx.Rngs(0)))
    out = tmp_path / "tuned.msgpack"
    ft = FinetuneConfig(
        steps=3, batch_size=2, targets="all", pano_width=256, report_triplets=0,
        optim=cfg.optim, loss=cfg.loss,
    )  # fmt: skip
    result = finetune(capture, out, ft, base=base)
    assert result.equirect and result.triplets == 3 and result.steps == 3
    ends = [frames.read_image(capture / f"{i:02d}.png").image for i in (0, 2)]
    assert relative_pose(*ends, equirect=True).usable  # so the triplets carried the sweep
    tuned = load_weights(out)
    assert tuned.config.geometry
    # the file records the sweep its batches were made with, which the product will use with it
    from viewsynth.interpolators.sweep import GeometrySettings

    assert read_meta(out)["geometry"] == GeometrySettings().record()
    before, after = load_weights(base), tuned
    head = [
        not np.allclose(np.asarray(a), np.asarray(b))
        for a, b in zip(_params(after.update), _params(before.update), strict=True)
    ]
    assert any(head)


def test_finetune_on_photos_tunes_the_2d_network_or_a_photos_network_given(tmp_path, monkeypatch):
    """On ordinary photos ``finetune`` tunes the 2D network by default (it then makes every pair:
    on Lund 13.68 dB, against 13.53 for the photos network tuned, TRAINING_LOG.md session 33).
    Given a photos network as the base it tunes that one, each triplet given the pinhole sweep's
    candidate from its whole pair (as ``rnn`` does), and the file it writes is a photos network,
    which ``--weights`` then gives the photos. Five photos of a ray-cast room walking forward
    (``test_sweep_pinhole``), so every pair has its pose."""
    from test_sweep_pinhole import P0, P1, YAW0, YAW1, photo

    from viewsynth import frames
    from viewsynth.interpolators.rnn import RNNInterpolator
    from viewsynth.interpolators.sweep import GeometrySettings
    from viewsynth.model import ModelConfig, Network
    from viewsynth.model.weights import save_weights
    from viewsynth.training import finetune as ft_lib
    from viewsynth.training import photos

    capture = tmp_path / "walk"
    capture.mkdir()
    for i in range(5):  # 192x128: not 2:1, so ordinary photos; decided at this size (<= 512)
        at, yaw = P0 + (P1 - P0) * (i / 2.0), YAW0 + (YAW1 - YAW0) * i / 2.0
        frames.write_image(capture / f"{i}.png", photo(at, yaw, width=192, height=128)[0])
    base = tmp_path / "photos.msgpack"  # a tiny photos network standing in for the shipped one
    meta = {"geometry": GeometrySettings().record(), "photos": True}
    save_weights(base, Network(ModelConfig.tiny(geometry=True), rngs=nnx.Rngs(0)), meta=meta)
    two_d = tmp_path / "flow_only.msgpack"  # a tiny 2D network standing in for the shipped one
    save_weights(two_d, Network(ModelConfig.tiny(geometry=False), rngs=nnx.Rngs(0)))
    monkeypatch.setattr(ft_lib, "FLOW_ONLY_WEIGHTS", two_d)
    noise = tmp_path / "noise"  # photos without a usable pose (noise)
    noise.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        frames.write_image(noise / f"{i}.png", rng.uniform(0, 1, (32, 48, 3)))
    small = ft_lib.FinetuneConfig(steps=1, crop=32, max_side=48, report_triplets=0)
    ft_lib.finetune(noise, tmp_path / "two_d.msgpack", small)  # the default: the 2D network
    assert read_meta(tmp_path / "two_d.msgpack")["finetuned_from"] == str(two_d)
    assert not load_weights(tmp_path / "two_d.msgpack").config.geometry  # makes every pair
    made = []
    real_batches = photos.photo_batches

    def spy(*args):
        make = real_batches(*args)
        return lambda step: made.append(make(step)) or made[-1]

    monkeypatch.setattr(photos, "photo_batches", spy)
    cfg = ft_lib.FinetuneConfig(steps=2, crop=64, iters=1, report_triplets=1)
    out = tmp_path / "tuned.msgpack"
    result = ft_lib.finetune(capture, out, cfg, base=base)
    assert result.triplets == 3 and not result.equirect and result.steps == 2
    tuned_meta = read_meta(out)
    assert tuned_meta["finetuned_from"] == str(base) and tuned_meta["photos"] is True
    assert tuned_meta["geometry"] == GeometrySettings().record()
    # every row carried the sweep's candidate (no row of DIS twice), cropped with its frames
    from viewsynth.model.init import NO_GEOMETRY_LOGIT

    assert made and all(b.init.choice.shape == (2, 64, 64, 1) for b in made)
    assert all(not np.all(b.init.choice == NO_GEOMETRY_LOGIT) for b in made)
    assert len(made[0].init.candidates) == 2 and made[0].img0.shape == (2, 64, 64, 3)
    # --weights out: the tuned network makes the photos' frames itself
    interp = RNNInterpolator.load(out)
    assert interp.sweeps_photos and interp.photos is None

    # without a usable pose the photos network would make none of their frames
    with pytest.raises(ViewsynthError, match="no triplet's photos have a usable pose"):
        ft_lib.finetune(noise, tmp_path / "x.msgpack", cfg, base=base)
    assert not (tmp_path / "x.msgpack").exists()


def test_finetune_without_base_weights_is_one_clear_error(tmp_path, capsys):
    from viewsynth.pipelines import cli

    missing = tmp_path / "none.msgpack"
    code = cli.main(
        ["finetune", str(tmp_path), "-o", str(tmp_path / "x.msgpack"), "--weights", str(missing)]
    )
    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == f"viewsynth finetune: error: {missing}: weights file not found"
    )


def test_export_without_validation_is_refused_before_the_run(tmp_path, capsys):
    # --export copies best.msgpack, which only validation writes: it failed after the whole run.
    from viewsynth.pipelines import cli

    workdir = tmp_path / "run"
    argv = ["train", "--config", str(DEBUG), "--set", f"workdir={workdir}"]
    code = cli.main([*argv, "--set", "validation.every=0", "--export", str(tmp_path / "w.msgpack")])
    assert code == 2 and not workdir.exists()
    err = capsys.readouterr().err.strip()
    assert err.startswith("viewsynth train: error: --export copies the best validated weights")
    assert "\n" not in err


def test_a_launch_of_a_finished_run_says_there_was_nothing_to_train(tmp_path, capsys, monkeypatch):
    # Run again as the debug config says ("run it again to resume"), a finished run took no step
    # and said "done: steps 6 -> 6, last loss nan": a NaN reads as a diverged run.
    from viewsynth.pipelines import cli

    def finished(cfg, **_):
        return loop.RunResult(cfg.workdir, 6, 6, float("nan"), None, 0.0, None)

    monkeypatch.setattr(loop, "train", finished)
    argv = ["train", "--config", str(DEBUG), "--set", f"workdir={tmp_path / 'run'}"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "nothing to train: at step 6, steps 6 (more: --set steps=N)" in out
    assert "nan" not in out


def test_train_help_draws_the_work_folder(capsys):
    # `viewsynth train --help` printed the usage line only: not the work folder, its files, how a
    # launch resumes and what Ctrl-C keeps, which its docstring (and every other job's help) says.
    from viewsynth.pipelines import cli

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "runs/train/                   work folder (config.yaml, checkpoints/" in out
    assert "the next launch resumes from there" in out


def test_warm_start_may_change_only_the_fields_that_shape_no_parameter(tmp_path):
    from viewsynth.model.network import Network
    from viewsynth.model.weights import save_weights

    base = tmp_path / "base.msgpack"
    cfg = load_config(DEBUG, [])
    save_weights(base, Network(cfg.model, rngs=nnx.Rngs(0)))
    deeper = loop.build_model(load_config(DEBUG, [f"init_weights={base}", "model.iters=5"]))
    assert deeper.config.iters == 5
    for x, y in zip(_params(deeper), _params(load_weights(base)), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    for other in ("model.refine_channels=16", "model.geometry=false"):
        with pytest.raises(ConfigError, match="its model config differs"):
            loop.build_model(load_config(DEBUG, [f"init_weights={base}", other]))


def test_finetune_defaults_follow_the_shipped_models_last_training():
    # The recipe's last steps train without the census term and without input-only noise/JPEG; fine-tuning on a
    # capture must not switch them back on (configs/finetune.yaml says the same).
    from viewsynth.training.finetune import FinetuneConfig

    shipped = load_config(SHIPPED[-1], [])
    ft = FinetuneConfig()
    assert ft.loss.census_weight == shipped.loss.census_weight == 0.0
    assert ft.augment.noise == shipped.data.augment.noise == 0.0
    assert ft.augment.jpeg == shipped.data.augment.jpeg == 0.0
    from_yaml = config_lib.load(FinetuneConfig, ROOT / "configs" / "finetune.yaml")
    assert from_yaml.loss == ft.loss and from_yaml.augment == ft.augment
