"""Typed configs: YAML + --set overrides, unknown keys and bad values are errors naming them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from viewsynth import config
from viewsynth.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    size: int = 4
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    rate: float = 0.5
    name: str = "x"
    maybe: int | None = None
    inner: Inner = field(default_factory=Inner)

    def __post_init__(self):
        if self.rate < 0:
            raise ValueError("rate must be non-negative")


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rate: 2\ninner:\n  size: 8\n")
    cfg = config.load(Outer, path, ["inner.mode=b", "maybe=3"])
    assert cfg == Outer(rate=2.0, inner=Inner(size=8, mode="b"), maybe=3)
    assert isinstance(cfg.rate, float)
    assert config.from_dict(Outer, config.to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["nope=1"], "unknown key 'nope'"),
        (["inner.nope=1"], "config.inner: unknown key 'nope'"),
        (["inner.size=2.5"], "config.inner.size: expected an integer"),
        (["inner.mode=c"], "config.inner.mode: 'c' is not one of 'a', 'b'"),
        (["rate=-1"], "rate must be non-negative"),
        (["rate"], "expected key=value"),
    ],
)
def test_bad_settings(overrides, needle):
    with pytest.raises(ConfigError) as err:
        config.load(Outer, None, overrides)
    assert needle in str(err.value)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rate: [1,\n")
    with pytest.raises(ConfigError, match=str(path)):
        config.load(Outer, path)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        config.load(Outer, path)
