"""``viewsynth <job> ...``: one console script dispatching to the jobs in ``pipelines/`` (installed as ``viewsynth.pipelines``).

Each job is a module with ``main(argv) -> int``. Errors a user can cause (``ViewsynthError``)
become one line on stderr and exit status 2; Ctrl-C exits 130 with finished work kept.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

JOBS = {
    "interpolate": "turn capture folders into walkthrough videos",
    "pair": "interpolate between two images",
    "train": "train the network from a config",
    "finetune": "adapt the shipped model to one capture",
    "evaluate": "score methods on datasets",
    "benchmark": "the standard quality and speed suite",
    "view": "look at an output folder in the browser (360 viewer)",
}

#: Jobs that `kill PID` (SIGTERM) stops as Ctrl-C does, from their first moment: finished work kept,
#: exit 130 (``options.stop_on_sigterm``).
STOP_ON_SIGTERM = ("interpolate", "train", "finetune")


def usage() -> str:
    lines = ["usage: viewsynth <job> [options]", "", "jobs:"]
    lines += [f"  {name:<12} {text}" for name, text in JOBS.items()]
    lines += ["", "viewsynth <job> --help for a job's options."]
    return "\n".join(lines)


def compile_cache_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment that turns on JAX's persistent compilation cache for a job.

    Compiling the network takes 3-5 s per image size on a CPU; with the cache a later run of any
    job reuses it (``make interpolate`` on the sample: 14.6 s, then 11.6 s; README). The folder is
    ``$VIEWSYNTH_JAX_CACHE``, else ``$XDG_CACHE_HOME/viewsynth/jax`` (``~/.cache`` by default);
    ``VIEWSYNTH_JAX_CACHE=off`` turns it off, and a cache the user set up for JAX is left alone.
    """
    if "JAX_COMPILATION_CACHE_DIR" in env:
        return {}
    chosen = env.get("VIEWSYNTH_JAX_CACHE", "")
    if chosen.lower() in ("off", "0", "false", "no"):
        return {}
    if chosen:
        folder = Path(chosen)
    else:
        base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
        folder = Path(base) / "viewsynth" / "jax"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return {}  # no writable cache: compile every time, as without it
    if not os.access(folder, os.W_OK):
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": str(folder),
        # Every compiled function, however quick to compile or small (the defaults keep only
        # those over 1 s, which leaves most of the network's start-up cost out).
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    job, rest = argv[0], argv[1:]
    if job not in JOBS:
        print(f"viewsynth: unknown job {job!r}\n{usage()}", file=sys.stderr)
        return 2
    import logging

    # Before JAX is imported: it reads these when it starts.
    if "jax" not in sys.modules:
        os.environ.update(compile_cache_env(os.environ))

    from viewsynth.errors import ViewsynthError

    # JAX logs a warning for every accelerator plugin it probes and does not find (e.g. TPU).
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)

    if job in STOP_ON_SIGTERM:  # before the job's imports (0.6-0.9 s), which `kill` may cut short
        from viewsynth.pipelines.options import stop_on_sigterm

        stop_on_sigterm()
    try:
        module = importlib.import_module(f"viewsynth.pipelines.{job}")
        return int(module.main(rest) or 0)
    except ViewsynthError as err:
        print(f"viewsynth {job}: error: {err}", file=sys.stderr)
        return 2
    except BaseException as err:  # Ctrl-C, also where a library turned it into its own error
        if not interrupted(err):
            raise
        print(f"viewsynth {job}: interrupted; finished work is kept", file=sys.stderr)
        return 130


def interrupted(err: BaseException) -> bool:
    """Whether ``err`` is Ctrl-C's ``KeyboardInterrupt`` or was raised while handling one: pycolmap
    answers an interrupt during its first import with "Cannot import the C++ backend", which
    would tell the user their install is broken."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
