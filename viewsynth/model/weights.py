"""Weights files: one Flax msgpack file that describes itself; loaded without code execution.

Layout (``flax.serialization.msgpack_serialize`` of a plain dict)::

    {"format": "viewsynth-weights", "version": 1,
     "config": ModelConfig as a dict,
     "params": nnx.state(model, nnx.Param) as a pure dict (keys as strings),
     "meta": free dict (training steps, data, date, ...)}

Reading uses ``msgpack_restore`` (data only, never pickle). Anything wrong with a file (missing,
truncated, corrupt, another format, parameters that do not fit its config) raises ``WeightsError``
with one line naming the file and the problem.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx, serialization

from viewsynth import frames
from viewsynth.errors import ConfigError, WeightsError
from viewsynth.model.network import ModelConfig, Network

FORMAT = "viewsynth-weights"
#: The model shipped inside the package (``viewsynth/weights/default.msgpack``).
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "default.msgpack"
#: The 2D network shipped beside it (``viewsynth/weights/flow_only.msgpack``): a geometry network
#: made by ``make_interpolator('rnn')`` hands it the pairs that have no usable pose.
FLOW_ONLY_WEIGHTS = DEFAULT_WEIGHTS.with_name("flow_only.msgpack")
#: The geometry network for ordinary photos (``viewsynth/weights/photos.msgpack``), trained on the
#: pinhole sweep's candidate: ``make_interpolator('rnn')`` hands it photos. Its file's meta holds
#: ``"photos": true``.
PHOTOS_WEIGHTS = DEFAULT_WEIGHTS.with_name("photos.msgpack")
VERSION = 1


def _keys_to_str(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {str(k): _keys_to_str(v) for k, v in tree.items()}
    return np.asarray(tree)


def save_weights(path: str | Path, model: Network, meta: dict[str, Any] | None = None) -> None:
    """Write ``model``'s config and parameters to ``path`` (written aside, flushed to disk, then
    renamed: a crash mid-write never leaves a truncated weights file at ``path``)."""
    path = Path(path)
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "params": _keys_to_str(params),
        "meta": dict(meta or {}),
    }
    try:
        data = serialization.msgpack_serialize(payload)
    except Exception as err:  # an unserialisable value in meta
        raise WeightsError(f"{path}: cannot serialise weights ({err})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    with frames.atomic_write(path, fsync=True) as tmp:
        tmp.write_bytes(data)


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise WeightsError(f"{path}: a folder, not a weights file")
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    return path.read_bytes()


def _read(path: Path, data: bytes | None = None) -> dict[str, Any]:
    """The checked payload of ``path`` (``data``: its bytes, when the caller has read them)."""
    if data is None:
        data = _read_bytes(path)
    try:
        payload = serialization.msgpack_restore(data)
    except Exception as err:
        raise WeightsError(
            f"{path}: not a readable weights file (truncated or corrupt: {err})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a viewsynth weights file (format marker missing)")
    if payload.get("version") != VERSION:
        raise WeightsError(
            f"{path}: weights format version {payload.get('version')!r}, this viewsynth reads {VERSION}"
        )
    for key in ("config", "params"):
        if not isinstance(payload.get(key), dict):
            raise WeightsError(f"{path}: weights file has no '{key}' section")
    return payload


def read_config(path: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` a weights file was made with (no parameters are read into a model)."""
    path = Path(path)
    try:
        return ModelConfig.from_dict(_read(path)["config"], where=f"{path}: config")
    except ConfigError as err:
        raise WeightsError(f"{path}: bad model config in weights file ({err})") from None


def read_meta(path: str | Path) -> dict[str, Any]:
    """The free ``meta`` dict stored with the weights (training steps, data, date, ...)."""
    meta = _read(Path(path)).get("meta")
    return meta if isinstance(meta, dict) else {}


def _record(data: bytes, payload: dict[str, Any]) -> dict[str, Any]:
    """What identifies a weights file's output: its content hash, the model's default K, the
    training record it carries (run, commit, config, steps), for manifests and resume checks, and
    the geometry settings the network was made for (``meta["geometry"]``: the pose's and the
    sphere sweep's knobs, a plain dict; None when the file records none), and whether it is
    trained for ordinary photos (``meta["photos"]``, :data:`PHOTOS_WEIGHTS`)."""
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    geometry = meta.get("geometry")
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "iters": payload["config"].get("iters"),
        "trained": {k: meta[k] for k in ("run", "commit", "config", "steps") if k in meta},
        "geometry": geometry if isinstance(geometry, dict) else None,
        "photos": meta.get("photos") is True,
    }


def _fill(template: Any, stored: Any, path: Path, where: str) -> Any:
    """``stored`` (string keys) reshaped onto ``template``'s keys, checking shapes and dtypes."""
    if isinstance(template, dict):
        if not isinstance(stored, dict):
            raise WeightsError(f"{path}: parameter '{where}' should be a group, found an array")
        names = {str(k): k for k in template}
        missing = sorted(set(names) - set(stored))
        extra = sorted(set(stored) - set(names))
        if missing or extra:
            what = (
                f"missing '{where}{missing[0]}'" if missing else f"unexpected '{where}{extra[0]}'"
            )
            raise WeightsError(f"{path}: parameters do not match the model config ({what})")
        return {names[k]: _fill(template[names[k]], stored[k], path, f"{where}{k}/") for k in names}
    if isinstance(stored, dict):
        raise WeightsError(f"{path}: parameter '{where.rstrip('/')}' should be an array")
    arr = np.asarray(stored)
    if arr.shape != tuple(template.shape) or arr.dtype != template.dtype:
        raise WeightsError(
            f"{path}: parameter '{where.rstrip('/')}' is {arr.dtype}{list(arr.shape)}, "
            f"the model config needs {template.dtype}{list(template.shape)}"
        )
    # device_put, not jnp.asarray: the same array, without a compiled conversion per shape (the
    # two shipped networks' 300 parameters: 0.6 s at every job's start)
    return jax.device_put(arr)


def load_weights(path: str | Path) -> Network:
    """The ``Network`` stored at ``path`` (config and parameters); ``WeightsError`` if unusable."""
    path = Path(path)
    return _network(path, _read(path))


def load_described(path: str | Path) -> tuple[Network, dict[str, Any]]:
    """:func:`load_weights`, and what identifies the file, from one read of it: ``{"sha256",
    "iters" (the model's default K), "trained" (run, commit, config, steps of the meta)}``, so
    the description is of exactly the bytes the network was made from."""
    path = Path(path)
    data = _read_bytes(path)
    payload = _read(path, data)
    return _network(path, payload), _record(data, payload)


def _network(path: Path, payload: dict[str, Any]) -> Network:
    try:
        cfg = ModelConfig.from_dict(payload["config"], where=f"{path}: config")
    except ConfigError as err:
        raise WeightsError(f"{path}: bad model config in weights file ({err})") from None
    abstract = nnx.eval_shape(lambda: Network(cfg, rngs=nnx.Rngs(0)))
    graphdef, state, rest = nnx.split(abstract, nnx.Param, ...)
    if jax.tree.leaves(rest):  # today the network holds parameters only
        raise WeightsError(f"{path}: the model has state this weights format does not store")
    template = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), nnx.to_pure_dict(state)
    )
    nnx.replace_by_pure_dict(state, _fill(template, payload["params"], path, ""))
    return nnx.merge(graphdef, state, rest)
