"""Typed configs: YAML + --set overrides, unknown keys and bad values are errors naming them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from viewsynth import config
from viewsynth.errors import ConfigError, ViewsynthError


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


@pytest.mark.parametrize(
    ("schema", "override", "needle"),
    [
        ("finetune", "gaps=[0]", "gaps must be frame steps of at least 1"),
        ("finetune", "gaps=[-1]", "gaps must be frame steps of at least 1"),
        ("finetune", "pano_width=0", "pano_width of 16"),
        ("finetune", "crop=0", "positive multiple of 8"),
        ("finetune", "max_side=64", "max_side (64) must be at least crop"),
        ("finetune", "optim.learning_rate=-1", "learning_rate must be positive"),
        ("finetune", "checkpoint_every=0", "checkpoint_every must be >= 1"),
        ("train", "log_every=0", "log_every, checkpoint_every and keep_checkpoints"),
        ("train", "checkpoint_every=0", "log_every, checkpoint_every and keep_checkpoints"),
    ],
)
def test_training_settings_that_cannot_work_are_refused_before_any_work(schema, override, needle):
    """A value that would fail deep in a run (a division by zero, a resize to nothing) or train
    on nothing (a gap of 0: the target is its own input) is one ConfigError naming it."""
    from viewsynth import config as config_lib
    from viewsynth.errors import ConfigError
    from viewsynth.training.config import load_config
    from viewsynth.training.finetune import FinetuneConfig

    with pytest.raises(ConfigError, match=re.escape(needle)):
        if schema == "finetune":
            config_lib.load(FinetuneConfig, None, [override])
        else:
            load_config(Path(__file__).parents[1] / "configs" / "train_debug.yaml", [override])


def test_settings_built_in_python_are_checked_as_a_file_s_are():
    """A script's ``InterpolateSettings(...)`` gets what the YAML file gets: a wrong name or type
    is a ConfigError at once, not a crash (or a silent default) after the output folder is made."""
    from viewsynth.capture import CaptureOptions
    from viewsynth.walkthrough import InterpolateSettings

    for kwargs, message in (
        ({"method": "foo"}, "method: 'foo' is not one of 'linear', 'flow', 'sweep', 'rnn'"),
        ({"codec": "vp9"}, "codec: 'vp9' is not one of 'h264', 'hevc'"),
        ({"factor": 2.5}, "factor: expected an integer, got 2.5"),
        ({"frames": "maybe"}, "frames: expected true or false, got 'maybe'"),
        ({"view": {"fov": 90}}, "view: unknown key 'fov'"),
    ):
        with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
            InterpolateSettings(**kwargs)
    with pytest.raises(ConfigError, match="^projection: 'cube' is not one of"):
        CaptureOptions(projection="cube")
    # a value out of range too: a ConfigError (a script catching ViewsynthError sees it), which
    # is still the ValueError it was
    for kwargs, message in (
        ({"max_video_width": -5}, "max_video_width must be at least 2, got -5"),
        ({"factor": 0}, "factor must be at least 1, got 0"),
        ({"fps": -1}, "fps must be positive, got -1"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            InterpolateSettings(**kwargs)
    with pytest.raises(ViewsynthError, match="every_frames must be at least 1"):
        CaptureOptions(every_frames=0)
    with pytest.raises(ValueError, match="every_frames must be at least 1"):
        CaptureOptions(every_frames=0)
    settings = InterpolateSettings(
        view={"hfov": 90},
        capture={"max_width": 128},
        frames="no",
        fps=25,
        weights=Path("w.msgpack"),
    )
    assert settings.view.hfov == 90.0 and settings.capture.max_width == 128
    assert settings.frames is False and settings.fps == 25.0 and settings.weights == "w.msgpack"
    assert config.from_dict(InterpolateSettings, config.to_dict(settings)) == settings
