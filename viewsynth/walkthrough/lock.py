"""One run per output folder: a run holds ``OUT/.viewsynth.lock`` for as long as it writes there.

Two runs into one folder (a double click, overlapping cron jobs) would write the same pieces and
ledger, and which run's frames end up there would be chance. The lock is ``flock`` on that file,
which the kernel drops when the holding process ends, however it ends: a lock left by a killed
run never blocks the next one. The holder writes its process id into the file, so the run that
is refused can say which process holds the folder. The file is removed on release; a run that
had opened it just before checks, once it holds the lock, that it holds the file still at that
path, and otherwise takes the lock again on the new one.

Who takes it: :func:`~viewsynth.walkthrough.run.run_capture` on its capture's output folder
(whichever process runs it: the job, a Ray worker, a Python caller), and ``viewsynth
interpolate`` on a root's output folder (``OUT/summary.json``) when it runs several captures.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from viewsynth.errors import ViewsynthError

LOCK_FILE = ".viewsynth.lock"


class FolderLock:
    """The lock on the output folder ``folder`` (which must exist); a context manager.

    Entering raises ``ViewsynthError`` naming the folder and the holder's process id when
    another process holds it.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise ViewsynthError(
                    f"{self.folder}: another viewsynth run (process {holder}) is writing into "
                    "this output folder; wait for it to end or choose another folder"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder removed it as we opened it: lock the one there now
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as err:  # a full disk, a file size limit: nothing of this run is written
            self.path.unlink(missing_ok=True)
            os.close(fd)
            raise ViewsynthError(f"{self.path}: could not write it ({err.strerror})") from None
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before the unlock: no one locks a removed file
        os.close(self._fd)
        self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _holder(fd: int) -> str:
    """The process id the holder wrote into the file, or "unknown".

    The holder writes it just after taking the lock, over a killed run's: until it is there (a
    process that is alive), wait a moment.
    """
    text = ""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit() and _alive(int(text)):
            return text
        time.sleep(0.05)
    return text if text.isdigit() else "unknown"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
