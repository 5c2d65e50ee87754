"""Data parallelism over local devices: padding round trips, the batch split on the mesh, and the
interpolator's result on two devices equal to one device's.

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
from viewsynth.parallel import batch_size, data_mesh, pad_batch, unpad_batch

ROOT = Path(__file__).resolve().parents[1]


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


TWO_DEVICES = textwrap.dedent(
    """
    import json

    import jax
    import numpy as np
    from flax import nnx

    from viewsynth.model.network import ModelConfig, Network
    from viewsynth.parallel import data_mesh, pad_batch, replicate, shard_batch, unpad_batch

    report = {"devices": jax.device_count()}
    mesh = data_mesh()
    x = np.arange(3 * 4, dtype=np.float32).reshape(3, 4)
    padded, n = pad_batch({"x": x}, mesh.size)
    placed = shard_batch(padded, mesh)["x"]
    report["spec"] = str(placed.sharding.spec)
    report["shards"] = sorted(s.data.shape[0] for s in placed.addressable_shards)
    report["round_trip"] = bool(np.array_equal(np.asarray(unpad_batch({"x": placed}, n)["x"]), x))
    weights = replicate(np.ones(5, np.float32), mesh)
    report["replicas"] = sorted(s.data.shape[0] for s in weights.addressable_shards)

    # Random parameters everywhere (output heads included, which start at zero otherwise),
    # drawn in NumPy: the initialisers would compile one program per weight shape.
    abstract = nnx.eval_shape(lambda: Network(ModelConfig.tiny(), rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    rng = np.random.default_rng(1)
    state = jax.tree.map(lambda s: (0.1 * rng.standard_normal(s.shape)).astype(s.dtype), state)
    net = nnx.merge(graphdef, state)
    # The product path: RNNInterpolator splits the times of a pair over both devices.
    from viewsynth.interpolators import RNNInterpolator, Sweep

    pano0 = rng.random((32, 64, 3), dtype=np.float32)
    pano1 = np.roll(pano0, 2, axis=1)
    sweep = Sweep.for_network() if net.config.geometry else None
    split = RNNInterpolator(net, bucket=32, sweep=sweep)
    single = RNNInterpolator(net, bucket=32, data_parallel=False, sweep=sweep)
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


def test_two_devices_split_a_padded_batch_and_replicate_parameters(two_devices):
    assert two_devices["devices"] == 2
    # B=3 on 2 devices: padded to 4, two rows each along the batch axis; unpadded back to 3.
    assert two_devices["spec"] == str(jax.sharding.PartitionSpec("data"))
    assert two_devices["shards"] == [2, 2] and two_devices["round_trip"]
    assert two_devices["replicas"] == [5, 5]  # a whole copy on each device


def test_two_devices_interpolator_splits_times_and_equals_one_device(two_devices):
    assert two_devices["interp_devices"] == 2
    assert two_devices["interp_shape"] == [3, 32, 64, 3]
    assert two_devices["interp_diff"] <= 1e-5
