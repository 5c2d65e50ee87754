"""The training run's settings: the schema ``viewsynth train --config FILE`` fills.

A YAML file (``configs/train_debug.yaml``, the recipe in ``configs/shipped/``) sets any field of
:class:`TrainConfig`; ``--set key=value`` overrides one (dotted for a section: ``optim.warmup_steps``).
Unknown keys and values of the wrong type are :class:`~viewsynth.errors.ConfigError` naming the
key and the file (:mod:`viewsynth.config`). The sections are the model (``ModelConfig``), the data
(``DataConfig``), the optimiser, the loss and the validation below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from viewsynth import config as config_lib
from viewsynth.errors import ConfigError
from viewsynth.model.network import ModelConfig
from viewsynth.training.sources import DataConfig


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up, cosine decay and global-norm clipping."""

    learning_rate: float = 2e-4
    warmup_steps: int = 100
    # The cosine decays to learning_rate * end_fraction at the last step.
    end_fraction: float = 0.05
    weight_decay: float = 1e-4
    b1: float = 0.9
    b2: float = 0.999
    clip_norm: float = 1.0


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Sequence loss over every recurrent iteration (see :mod:`viewsynth.training.losses`)."""

    gamma: float = 0.8
    census_weight: float = 1.0
    census_radius: int = 3
    # Weight of the SSIM term (1 - SSIM) / 2 (11x11 Gaussian window, as the evaluation's SSIM).
    ssim_weight: float = 0.0
    # Weight of the squared error (PSNR's own measure), besides the Charbonnier term.
    mse_weight: float = 0.0
    # Weight of the visibility loss: frame 0's fusion weights (the final mask, and the geometry
    # candidate's) against the input that sees a pixel where only one does, where a triplet has
    # the renderer's visibility (losses.visibility_loss).
    visibility_weight: float = 0.0

    def __post_init__(self):
        weights = (self.census_weight, self.ssim_weight, self.mse_weight, self.visibility_weight)
        if min(weights) < 0:
            raise ValueError(
                "loss.census_weight, loss.ssim_weight, loss.visibility_weight and loss.mse_weight "
                "must be >= 0"
            )


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """Fixed held-out renders (seeds never trained on) scored every ``every`` steps."""

    every: int = 100
    # Held-out street panoramas (WS-PSNR) at this size.
    panoramas: int = 8
    width: int = 256
    height: int = 128
    # Held-out perspective street views (PSNR), size x size.
    perspective: int = 8
    size: int = 128
    # Use the licensed photos (when present) for the held-out textures too.
    photos: bool = True
    # Real-video triplets (gaps 1 and 2, spread evenly) from the training video's held-out tail
    # (``data.video_holdout`` frames), whole frames cropped to multiples of the model stride.
    video: int = 0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run (``viewsynth train --config FILE``): ``configs/train_debug.yaml``, a step of
    ``configs/shipped/``."""

    # Work folder: checkpoints, metrics, plots, best weights; a run resumes from it.
    workdir: str = "runs/train"
    seed: int = 0
    # Total optimisation steps (the learning-rate schedule spans them).
    steps: int = 1000
    # Recurrent iterations K unrolled in training (the loss covers each).
    iters: int = 3
    # Stop cleanly (checkpoint, validation) after this much wall time in this launch; 0: no limit.
    max_minutes: float = 0.0
    log_every: int = 10
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    # Start from these weights instead of a fresh network (their model config must match).
    init_weights: str = ""
    # With init_weights: begin at this step of the schedule and of the data stream, to finish a run
    # whose checkpoints were lost from the weights it left (the AdamW moments start at zero). A
    # checkpoint in the workdir still wins (resume). 0: from the start.
    init_step: int = 0
    # Stop cleanly after this step (checkpoint, validation, last.msgpack), as max_minutes would;
    # the schedule still spans ``steps``, so a resume without it finishes the run. 0: no stop.
    stop_step: int = 0
    # Batches prepared ahead in background threads (``data_workers`` of them make batches at once:
    # rendering, DIS and augmentation release the GIL, so a many-core host keeps a GPU fed).
    prefetch: int = 2
    data_workers: int = 1
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)

    def __post_init__(self):
        if self.steps < 1 or self.iters < 1:
            raise ValueError("steps and iters must be >= 1")
        if min(self.log_every, self.checkpoint_every, self.keep_checkpoints) < 1:
            raise ValueError("log_every, checkpoint_every and keep_checkpoints must be >= 1")
        s = self.model.stride
        for name, n in (
            ("data.pano_height", self.data.pano_height),
            ("data.crop", self.data.crop),
            ("validation.height", self.validation.height),
            ("validation.size", self.validation.size),
        ):
            if n % s:
                raise ValueError(f"{name} = {n} is not a multiple of the model stride {s}")
        if not 0 <= self.init_step < self.steps:
            raise ValueError(
                f"init_step {self.init_step} must be in 0 .. steps - 1 ({self.steps - 1})"
            )
        if self.init_step and not self.init_weights:
            raise ValueError("init_step needs init_weights (the weights the run left at that step)")
        if not 0 <= self.stop_step <= self.steps:
            raise ValueError(f"stop_step {self.stop_step} must be in 0 .. steps ({self.steps})")
        if self.validation.video > 0 and self.data.video_holdout < 3:
            raise ValueError("validation.video needs held-out frames: set data.video_holdout >= 3")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """The :class:`TrainConfig` from a YAML file and ``--set key=value`` overrides."""
    return config_lib.load(TrainConfig, path, overrides)


#: Settings a resumed run may change: they steer the launch (when to stop, log, save, validate,
#: how many threads make batches), not what is learnt (batches are a pure function of seed and
#: step). ``steps`` may change too (to lengthen a run), with a line saying the schedule moved.
RESUMABLE_CHANGES = (
    "workdir", "max_minutes", "stop_step", "log_every", "checkpoint_every", "keep_checkpoints",
    "prefetch", "data_workers", "validation.every",
)  # fmt: skip


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: tree}


def check_resume(cfg: TrainConfig, say: Callable[[str], None]) -> None:
    """Refuse, before anything is written, a launch that would resume a work folder's checkpoints
    with other settings than the run that wrote them (its ``config.yaml``): the steps done and
    the steps to come would be two runs' in one, and ``config.yaml`` would record only the second.
    """
    workdir = Path(cfg.workdir)
    ckpts, saved = workdir / "checkpoints", workdir / "config.yaml"
    if not saved.is_file() or not any(p.name.isdigit() for p in _children(ckpts)):
        return
    try:
        before = _flat(yaml.safe_load(saved.read_text()))
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return  # unreadable: nothing to compare with (the checkpoint's shapes are still checked)
    now = _flat(yaml.safe_load(yaml.safe_dump(config_lib.to_dict(cfg))))
    changed = [k for k in now if k in before and before[k] != now[k] and k not in RESUMABLE_CHANGES]
    lengthened = "steps" in changed
    changed = [k for k in changed if k != "steps"]
    if changed:
        key, more = changed[0], len(changed) - 1
        raise ConfigError(
            f"{saved}: this work folder's run has {key}: {before[key]!r}, this launch "
            f"{now[key]!r}" + (f" (and {more} more setting(s) differ)" if more else "")
            + ": resuming would mix two runs; set it back, or use a new workdir (init_weights "
            f"{workdir / 'last.msgpack'} starts one from these weights)"
        )  # fmt: skip
    if lengthened:
        say(
            f"steps {before['steps']} -> {now['steps']}: the learning-rate schedule now spans "
            f"{now['steps']} steps (the steps done followed the old one)"
        )


def _children(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []
