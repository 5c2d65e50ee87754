"""The settings schema of ``viewsynth interpolate``: everything that decides its outputs.

``InterpolateSettings`` is what a YAML file (``configs/interpolate.yaml``), ``--set KEY=VALUE``
and the CLI flags fill in, in that order (:func:`settings_from`); the resume check hashes all of
it, so a changed setting means new work.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from viewsynth import config as config_lib
from viewsynth.capture import CaptureOptions
from viewsynth.errors import ConfigError
from viewsynth.frames import VIDEO_SUFFIXES
from viewsynth.interpolators import DEFAULT_METHOD, Interpolator, make_interpolator


@dataclass(frozen=True)
class ViewOptions:
    """The flat walkthrough: a rectilinear camera looking along the direction of travel."""

    hfov: float = 100.0  # horizontal field of view, degrees (0, 180)
    pitch: float = 0.0  # degrees, positive looks up
    width: int = 1280  # flat video width (perspective captures keep their own size)
    height: int = 720  # flat video height

    def __post_init__(self):
        config_lib.check_fields(self)
        if not 0 < self.hfov < 180:
            raise ConfigError(f"view.hfov must be in (0, 180), got {self.hfov}")
        if not -90 <= self.pitch <= 90:
            raise ConfigError(f"view.pitch must be in [-90, 90], got {self.pitch}")
        if self.width < 16 or self.height < 16:
            raise ConfigError("view.width and view.height must be at least 16")


@dataclass(frozen=True)
class InterpolateSettings:
    """Everything that decides the outputs of ``viewsynth interpolate`` (resume compares these)."""

    method: Literal["linear", "flow", "sweep", "rnn"] = DEFAULT_METHOD  # the interpolator
    factor: int = 8  # N: N-1 new frames per pair (ignored with spacing)
    spacing: float | None = None  # metres between output frames (constant speed from GPS)
    fps: float = 30.0  # output frame rate
    iters: int | None = None  # rnn: recurrent iterations K (None: the model's default)
    scale: float | None = None  # rnn: flow estimation scale (None: automatic for huge frames)
    weights: str | None = None  # rnn: weights file (None: the shipped model)
    photos_weights: str | None = None  # rnn: the network for ordinary photos (None: shipped)
    frames: bool = False  # also write every output frame as PNG under frames/
    quality: int = 18  # H.264 CRF: 0 best .. 51 worst
    codec: Literal["h264", "hevc"] = (
        "h264"  # hevc for 5.7K+ panoramas (H.264 level 5.2 stops near 4K)
    )
    max_video_width: int | None = None  # cap the 360 video's width (e.g. 4096 for H.264 players)
    chunk_frames: int = 60  # frames per closed MP4 piece: a killed run redoes at most this many
    max_memory: float = 0.0  # GiB a run may take per machine (0: 75 % of its memory); else narrower
    view: ViewOptions = field(default_factory=ViewOptions)
    capture: CaptureOptions = field(default_factory=CaptureOptions)

    def __post_init__(self):
        config_lib.check_fields(self)
        if self.factor < 1:
            raise ConfigError(f"factor must be at least 1, got {self.factor}")
        if self.spacing is not None and not self.spacing > 0:
            raise ConfigError(f"spacing must be positive metres, got {self.spacing}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if self.iters is not None and self.iters < 1:
            raise ConfigError(f"iters must be at least 1, got {self.iters}")
        if self.scale is not None and not 0 < self.scale <= 1:
            raise ConfigError(f"scale must be in (0, 1], got {self.scale}")
        if not 0 <= self.quality <= 51:
            raise ConfigError(f"quality (CRF) must be 0..51, got {self.quality}")
        if self.chunk_frames < 1:
            raise ConfigError(f"chunk_frames must be at least 1, got {self.chunk_frames}")
        if not (self.max_memory >= 0 and math.isfinite(self.max_memory)):
            raise ConfigError(
                f"max_memory must be 0 (75 % of the machine's memory) or GiB, got {self.max_memory}"
            )
        if self.max_video_width is not None and self.max_video_width < 2:
            raise ConfigError(f"max_video_width must be at least 2, got {self.max_video_width}")

    def capture_options(self, source: Path) -> CaptureOptions:
        """How to read the capture at ``source``: ``capture``, but a video with ``spacing`` and
        no sampling set is sampled every ``spacing`` metres of its GPS track (its frames lie
        centimetres apart: so the walkthrough moves at that speed). Photos: ``capture`` as is."""
        video = source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES
        if not (self.spacing and video) or self.capture.video_sampling():
            return self.capture
        return dataclasses.replace(self.capture, every_metres=self.spacing)

    def make_interpolator(self) -> Interpolator:
        """The interpolator these settings name: THE place settings become an interpolator (the
        job, ``run_capture`` and the Ray workers all come here). Loads weights for ``rnn``:
        raises ``WeightsError`` for a missing or unreadable file."""
        return make_interpolator(
            self.method, iters=self.iters, scale=self.scale, weights=self.weights,
            photos_weights=self.photos_weights,
        )  # fmt: skip


def settings_from(config_path: str | None, overrides: list[str], **flags) -> InterpolateSettings:
    """Settings from an optional YAML file, ``--set`` overrides, then explicit CLI flags."""
    base = config_lib.load(InterpolateSettings, config_path, overrides)
    changes = {k: v for k, v in flags.items() if v is not None}
    if not changes:
        return base
    return config_lib.replace(base, **changes)
