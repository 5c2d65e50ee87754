"""Stop a real ``viewsynth interpolate`` of a root midway, as a user's Ctrl-C or ``kill`` does.

:func:`stop_midway` runs this file in a subprocess of its own session: the job, in which capture
``b`` stalls once its videos have frames (ffmpeg writing its partial files, ``OUT/b`` locked),
in the job's process or, with ``--runner ray``, in the Ray workers (a setup hook of a Ray
instance started here, which the job joins). Once it stalls the signal goes to the session's
process group, as a terminal sends Ctrl-C to the foreground job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STALLED = "b.stalled"  # beside OUT: capture b has frames in its videos and waits


def stall() -> None:
    """Make capture ``b``'s writer wait (two minutes) after its third frame."""
    from viewsynth.export import segment

    write = segment.SegmentWriter.write
    written = {"b": 0}

    def slow_write(self, image):
        write(self, image)
        written[self.out.name] = written.get(self.out.name, 0) + 1
        if self.out.name == "b" and written["b"] == 3:
            (self.out.parent.parent / STALLED).touch()
            time.sleep(120)

    segment.SegmentWriter.write = slow_write


def stop_midway(
    root: Path, out: Path, sig: signal.Signals, *args: str
) -> tuple[int, str, list[str]]:
    """Run ``viewsynth interpolate ROOT -o OUT ARGS`` until capture ``b`` stalls with partial
    files, send ``sig`` to its process group; its exit code, stderr, and the files under ``OUT``
    (relative) at the moment of the signal."""
    marker = out.parent / STALLED
    cmd = [sys.executable, __file__, str(root), "-o", str(out), *args]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and list(out.glob("b/.parts/.*.part*"))):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "capture b never stalled"
            time.sleep(0.05)
        before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err, before


if __name__ == "__main__":
    if "ray" in sys.argv:  # the job joins this instance, whose workers stall too
        import ray

        ray.init(
            num_cpus=1,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=128 * 1024**2,
            runtime_env={"worker_process_setup_hook": stall},
        )
    stall()
    from viewsynth.pipelines.cli import main

    sys.exit(main(["interpolate", *sys.argv[1:]]))
