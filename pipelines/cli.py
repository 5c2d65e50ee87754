"""``viewsynth <job> ...``: one console script dispatching to the jobs in ``pipelines/``.

Each job is a module with ``main(argv) -> int``. Errors a user can cause (``ViewsynthError``)
become one line on stderr and exit status 2; Ctrl-C exits 130 with finished work kept.
"""

from __future__ import annotations

import importlib
import sys

JOBS = {
    "interpolate": "turn capture folders into walkthrough videos",
    "pair": "interpolate between two images",
    "train": "train the network from a config",
    "finetune": "adapt the shipped model to one capture",
    "evaluate": "score methods on datasets",
    "benchmark": "the standard quality and speed suite",
}


def usage() -> str:
    lines = ["usage: viewsynth <job> [options]", "", "jobs:"]
    lines += [f"  {name:<12} {text}" for name, text in JOBS.items()]
    lines += ["", "viewsynth <job> --help for a job's options."]
    return "\n".join(lines)


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

    from viewsynth.errors import ViewsynthError

    # JAX logs a warning for every accelerator plugin it probes and does not find (e.g. TPU).
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)

    try:
        module = importlib.import_module(f"pipelines.{job}")
        return int(module.main(rest) or 0)
    except ViewsynthError as err:
        print(f"viewsynth {job}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"viewsynth {job}: interrupted; finished work is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
