"""Data parallelism over local devices: padding round trips, and results equal to one device's.

The two-device checks run in a subprocess with ``--xla_force_host_platform_device_count=2``: this
process has initialised JAX with its own device count already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from viewsynth.errors import ViewsynthError
from viewsynth.parallel import DataParallel, batch_size, data_mesh, pad_batch, unpad_batch

ROOT = Path(__file__).resolve().parents[1]


def conv(params, x, t):
    """A small NHWC convolution with a per-row time: the shape of work the network does."""
    y = jax.lax.conv_general_dilated(
        x, params["w"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return jnp.tanh(y + params["b"]) * t[:, None, None, None]


def conv_inputs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {
        "w": rng.normal(size=(3, 3, 3, 4)).astype(np.float32),
        "b": rng.normal(size=(4,)).astype(np.float32),
    }
    x = rng.random((n, 8, 16, 3), dtype=np.float32)
    t = rng.random(n, dtype=np.float32)
    return params, x, t


def test_pad_batch_repeats_last_row_and_unpad_round_trips():
    tree = {"a": np.arange(10, dtype=np.float32).reshape(5, 2), "b": (jnp.arange(5),)}
    padded, n = pad_batch(tree, 4)
    assert n == 5
    assert padded["a"].shape == (8, 2) and isinstance(padded["a"], np.ndarray)
    assert padded["b"][0].shape == (8,)
    np.testing.assert_array_equal(padded["a"][5:], np.repeat(tree["a"][-1:], 3, axis=0))
    np.testing.assert_array_equal(np.asarray(padded["b"][0][5:]), [4, 4, 4])
    back = unpad_batch(padded, n)
    np.testing.assert_array_equal(back["a"], tree["a"])
    np.testing.assert_array_equal(np.asarray(back["b"][0]), np.arange(5))


def test_pad_batch_leaves_a_full_batch_alone():
    x = np.ones((6, 3), np.float32)
    padded, n = pad_batch(x, 3)
    assert padded is x and n == 6


def test_batch_size_errors_name_the_problem():
    with pytest.raises(ViewsynthError) as err:
        batch_size((np.zeros((3, 2)), np.zeros((4, 2))))
    assert str(err.value) == "batch: inputs disagree on the batch size ([3, 4])"
    with pytest.raises(ViewsynthError) as err:
        batch_size((np.zeros((3, 2)), np.float32(1.0)))
    assert str(err.value) == "batch: every input must be an array with a leading batch axis"
    with pytest.raises(ViewsynthError, match="every input"):
        batch_size(None)


def test_data_mesh_rejects_no_devices():
    with pytest.raises(ViewsynthError, match="data_mesh: no devices given"):
        data_mesh([])


def test_data_parallel_equals_plain_jit_on_this_process_devices():
    params, x, t = conv_inputs(5)
    run = DataParallel(conv, params)
    out = run(x, t)
    ref = jax.jit(conv)(params, x, t)
    assert out.shape == (5, 8, 16, 4)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-5)


def test_keyword_pytrees_are_batched_and_static_keywords_fixed():
    traces = []

    def fn(params, x, *, extra, power):
        traces.append(power)
        return {"y": params * x**power + extra["shift"], "n": extra["n"]}

    run = DataParallel(fn, np.float32(2.0), static_argnames=("power",))
    x = np.arange(3, dtype=np.float32)
    extra = {"shift": np.float32([10, 20, 30]), "n": np.arange(3)}
    out = run(x, extra=extra, power=2)
    np.testing.assert_allclose(np.asarray(out["y"]), 2.0 * x**2 + extra["shift"])
    np.testing.assert_array_equal(np.asarray(out["n"]), [0, 1, 2])
    run(x, extra=extra, power=2)
    out3 = run(x, extra=extra, power=3)
    np.testing.assert_allclose(np.asarray(out3["y"]), 2.0 * x**3 + extra["shift"])
    assert traces == [2, 3]  # one compile per static value, none for a repeated call


TWO_DEVICES = textwrap.dedent(
    """
    import json
    import sys

    import jax
    import numpy as np
    from flax import nnx
    from jax.sharding import PartitionSpec as P

    from viewsynth.model.network import ModelConfig, Network
    from viewsynth.parallel import DataParallel, data_parallel_module

    sys.path.insert(0, "tests")
    from test_parallel import conv, conv_inputs

    report = {"devices": jax.device_count()}
    traces = []

    def counted(params, x, t):
        traces.append(x.shape)
        return conv(params, x, t)

    params, x, t = conv_inputs(4)
    run = DataParallel(counted, params)
    ref = np.asarray(jax.jit(conv)(params, x, t))
    out4 = run(x, t)
    report["conv4_spec"] = str(out4.sharding.spec)
    report["conv4_shards"] = sorted(s.data.shape[0] for s in out4.addressable_shards)
    report["conv4_diff"] = float(np.max(np.abs(np.asarray(out4) - ref)))
    out3 = run(x[:3], t[:3])
    report["conv3_shape"] = list(out3.shape)
    report["conv3_diff"] = float(np.max(np.abs(np.asarray(out3) - ref[:3])))
    report["traces"] = [list(s) for s in traces]

    # Random parameters everywhere (output heads included, which start at zero otherwise),
    # drawn in NumPy: the initialisers would compile one program per weight shape.
    abstract = nnx.eval_shape(lambda: Network(ModelConfig.tiny(), rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    rng = np.random.default_rng(1)
    state = jax.tree.map(lambda s: (0.1 * rng.standard_normal(s.shape)).astype(s.dtype), state)
    net = nnx.merge(graphdef, state)
    img0 = rng.random((3, 16, 32, 3), dtype=np.float32)
    img1 = np.roll(img0, 3, axis=2)
    times = np.array([0.25, 0.5, 0.75], np.float32)
    forward = data_parallel_module(net, static_argnames=("equirect", "iters"))
    got = forward(img0, img1, times, equirect=True, iters=2)
    want = nnx.jit(lambda m, a, b, c: m(a, b, c, equirect=True, iters=2))(net, img0, img1, times)
    report["net_shapes"] = [list(leaf.shape) for leaf in jax.tree.leaves(got)]
    report["net_diff"] = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True)
    )
    # The product path: RNNInterpolator splits the times of a pair over both devices.
    from viewsynth.model.interpolator import RNNInterpolator

    pano0 = rng.random((32, 64, 3), dtype=np.float32)
    pano1 = np.roll(pano0, 2, axis=1)
    split = RNNInterpolator(net, bucket=32)
    single = RNNInterpolator(net, bucket=32, data_parallel=False)
    got = split(pano0, pano1, [0.25, 0.5, 0.75], equirect=True)
    want = single(pano0, pano1, [0.25, 0.5, 0.75], equirect=True)
    report["interp_devices"] = split._mesh.size
    report["interp_shape"] = list(got.shape)
    report["interp_diff"] = float(np.max(np.abs(got - want)))
    print("REPORT " + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def two_devices() -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("REPORT ") :])


def test_two_devices_split_the_batch(two_devices):
    assert two_devices["devices"] == 2
    # B=4 on 2 devices: two rows each, and the result stays split along the batch axis.
    assert two_devices["conv4_spec"] == str(jax.sharding.PartitionSpec("data"))
    assert two_devices["conv4_shards"] == [2, 2]
    assert two_devices["conv4_diff"] <= 1e-5


def test_two_devices_pad_an_odd_batch_and_compile_once(two_devices):
    assert two_devices["conv3_shape"] == [3, 8, 16, 4]
    assert two_devices["conv3_diff"] <= 1e-5
    # B=3 is padded to 4, so it reuses the executable compiled for B=4: one trace in all.
    assert two_devices["traces"] == [[4, 8, 16, 3]]


def test_two_devices_network_forward_equals_one_device(two_devices):
    # Output: 2 frames (iters=2), flow_t0, flow_t1, mask, all with B=3 rows.
    assert two_devices["net_shapes"] == [
        [3, 16, 32, 3],
        [3, 16, 32, 3],
        [3, 16, 32, 2],
        [3, 16, 32, 2],
        [3, 16, 32, 1],
    ]
    assert two_devices["net_diff"] <= 1e-5


def test_two_devices_interpolator_splits_times_and_equals_one_device(two_devices):
    assert two_devices["interp_devices"] == 2
    assert two_devices["interp_shape"] == [3, 32, 64, 3]
    assert two_devices["interp_diff"] <= 1e-5
