"""Typed, frozen configuration: dataclass schemas filled from YAML and ``--set key=value``.

Unknown keys are errors (``ConfigError`` naming the key and the file), values are checked
against the field's type, and a resolved config turns back into plain data to be saved with
every run. Schemas for each job live next to the job's library code; this module holds the
mechanism and the interpolation settings shared by the pipeline and the CLI.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from viewsynth.errors import ConfigError

T = TypeVar("T")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check (and gently convert) ``value`` against a field annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(
                _coerce(v, a, f"{where}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(annotation, value, where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "true",
            "yes",
            "1",
            "on",
            "false",
            "no",
            "0",
            "off",
        ):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
        if as_float != int(as_float):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(as_float)
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if annotation is str:
        if not isinstance(value, (str, int, float, os.PathLike)):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return value if isinstance(value, str) else str(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from nested plain data; unknown keys raise ``ConfigError``."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    retired = getattr(cls, "RETIRED", {})  # (a schema's settings gone: what replaced each)
    for key in unknown:
        if key in retired:
            raise ConfigError(f"{where}.{key}: {retired[key]}")
    if unknown:
        raise ConfigError(
            f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(names))})"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except ValueError as err:  # __post_init__ validation
        raise ConfigError(f"{where}: {err}") from None
    return obj


def check_fields(obj: Any) -> None:
    """Every field of the frozen dataclass ``obj`` checked against its type and converted as
    :func:`from_dict` does (a mapping into its dataclass, ``"8"`` into 8): for one built in Python,
    not read from a file (``InterpolateSettings(view={"hfov": 90})``). Its ``__post_init__`` calls
    this first; a wrong value raises ``ConfigError`` naming the field."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        checked = _coerce(value, hints[f.name], f.name)
        if checked is not value:
            object.__setattr__(obj, f.name, checked)  # (frozen: its own constructor's work)


def to_dict(obj: Any) -> Any:
    """Plain data (dicts, lists, scalars) for YAML/JSON, from a config dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``["a.b=3", "c=x"]`` -> ``{"a": {"b": 3}, "c": "x"}``; values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected key=value")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair!r}: '{part}' is not a section")
        node[parts[-1]] = value
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge, ``extra`` wins."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def load(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Schema ``cls`` filled from the YAML file at ``path`` (optional) and ``--set`` overrides."""
    data: dict[str, Any] = {}
    where = "config"
    if path is not None:
        path = Path(path)
        where = str(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: a folder, not a config file") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a YAML text file") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        data = loaded
    data = merge(data, parse_overrides(overrides))
    return from_dict(cls, data, where)


def replace(obj: T, **changes: Any) -> T:
    """``dataclasses.replace`` that re-validates through the schema."""
    return from_dict(type(obj), merge(to_dict(obj), changes))
