"""Training checkpoints (Orbax) in a run's work folder, resumed automatically.

``<workdir>/checkpoints/<step>/`` holds the model's parameters and the optimiser state (as a pure
dict of arrays) and a small JSON record (step, wall time so far, best validation score). A step
number is the count of finished optimisation steps: resuming from step ``n`` runs step ``n + 1``
next. Only checkpoints written after a finite loss exist, so a diverged run keeps its last good one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from viewsynth import frames as frames_lib
from viewsynth import interrupts
from viewsynth.errors import ViewsynthError


def claim(run_dir: Path, name: str, key: dict[str, Any], what: str) -> None:
    """Resume in ``run_dir`` only the run it holds: ``run_dir / name`` records ``key`` (plain
    data) on first use, and another key is refused in one line (``what``: what the folder holds),
    as another run's checkpoints would be resumed as if they were this one's."""
    key = json.loads(json.dumps(key))  # (tuples as lists, as it is read back)
    path = Path(run_dir) / name
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except ValueError:
            before = None
        if before != key:
            raise ViewsynthError(
                f"--workdir {run_dir}: holds another {what}; give a new folder, or empty this one"
            )
        return
    if (Path(run_dir) / "checkpoints").exists():  # e.g. a `viewsynth train` work folder
        raise ViewsynthError(
            f"--workdir {run_dir}: holds another kind of run's checkpoints (no {name}); give a "
            "new folder"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    frames_lib.write_text(path, json.dumps(key, indent=2))


class Checkpoints:
    """Save and restore ``(model, optimizer)`` state under ``directory``, keeping the last ``keep``."""

    def __init__(self, directory: str | Path, keep: int = 3):
        self.directory = Path(directory).resolve()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
            # named, so that a step's shapes can be read without restoring it (``restore``)
            item_handlers={
                "state": ocp.StandardCheckpointHandler(), "record": ocp.JsonCheckpointHandler()
            },
        )  # fmt: skip

    def latest_step(self) -> int | None:
        """The newest finished checkpoint's step, or None."""
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(
        self, step: int, model: nnx.Module, optimizer: nnx.Optimizer, record: dict[str, Any]
    ) -> None:
        """Write step ``step`` (model, optimiser, JSON ``record``) and wait until it is on disk.
        Ctrl-C or SIGTERM arriving meanwhile is raised once the checkpoint is whole: Orbax's
        save, cut short, left a half-written step that the interrupt's own save then failed on."""
        state = nnx.to_pure_dict(nnx.state((model, optimizer)))
        with interrupts.held():
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
        self._check_shapes(step, pure)
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

    def _check_shapes(self, step: int, pure: dict) -> None:
        """Refuse, in one line, a checkpoint that holds other arrays than ``pure`` (another model
        or optimiser config), from its metadata alone: a restore that fails part way leaves
        Orbax's background work to print tracebacks after the message."""
        try:
            stored = _shapes(self.manager.item_metadata(step)["state"])
        except Exception:  # unreadable metadata: the restore itself then says what is wrong
            return
        wanted = _shapes(pure)
        if stored == wanted:
            return
        differ = sorted(k for k in wanted.keys() | stored.keys() if wanted.get(k) != stored.get(k))
        name, more = differ[0], len(differ) - 1
        detail = (
            f"{name} is {stored.get(name, 'absent')} there, {wanted.get(name, 'absent')} in this "
            "config" + (f"; {more} more arrays differ" if more else "")
        )
        raise ViewsynthError(
            f"{self.directory / str(step)}: checkpoint does not match this model/optimiser config "
            f"({detail}); use a new work folder"
        )

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def _shapes(tree) -> dict[str, tuple[int, ...]]:
    """``{"0.cnet.embed.kernel": shape}`` for every array of a state tree or of its metadata."""

    def name(key) -> str:
        for attr in ("key", "idx", "name"):
            if hasattr(key, attr):
                return str(getattr(key, attr))
        return str(key)

    return {
        ".".join(name(k) for k in path): tuple(leaf.shape)
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
    }
