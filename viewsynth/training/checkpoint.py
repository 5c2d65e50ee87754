"""Training checkpoints (Orbax) in a run's work folder, resumed automatically.

``<workdir>/checkpoints/<step>/`` holds the model's parameters and the optimiser state (as a pure
dict of arrays) and a small JSON record (step, wall time so far, best validation score). A step
number is the count of finished optimisation steps: resuming from step ``n`` runs step ``n + 1``
next. Only checkpoints written after a finite loss exist, so a diverged run keeps its last good one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from viewsynth.errors import ViewsynthError


class Checkpoints:
    """Save and restore ``(model, optimizer)`` state under ``directory``, keeping the last ``keep``."""

    def __init__(self, directory: str | Path, keep: int = 3):
        self.directory = Path(directory).resolve()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    def latest_step(self) -> int | None:
        """The newest finished checkpoint's step, or None."""
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(
        self, step: int, model: nnx.Module, optimizer: nnx.Optimizer, record: dict[str, Any]
    ) -> None:
        """Write step ``step`` (model, optimiser, JSON ``record``) and wait until it is on disk."""
        state = nnx.to_pure_dict(nnx.state((model, optimizer)))
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                record=ocp.args.JsonSave(dict(record, step=step)),
            ),
            force=True,
        )
        # Block: a run killed right after a save must find the checkpoint complete.
        self.manager.wait_until_finished()

    def restore(self, step: int, model: nnx.Module, optimizer: nnx.Optimizer) -> dict[str, Any]:
        """Load step ``step`` into ``model`` and ``optimizer`` (in place); returns its JSON record.

        The restored arrays take the shardings of the live state (replicated on the run's mesh).
        """
        state = nnx.state((model, optimizer))
        pure = nnx.to_pure_dict(state)
        target = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
            pure,
        )
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(target), record=ocp.args.JsonRestore()
                ),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ViewsynthError(
                f"{self.directory / str(step)}: checkpoint does not match this model/optimiser config "
                f"({str(err).splitlines()[0][:200]}); use a new work folder"
            ) from None
        nnx.replace_by_pure_dict(state, restored["state"])
        nnx.update((model, optimizer), state)
        return dict(restored["record"] or {})

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
