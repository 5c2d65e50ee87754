"""Ctrl-C (SIGINT) and SIGTERM held while a step that must not be cut short runs.

Python raises ``KeyboardInterrupt`` between any two bytecodes of the main thread, also inside a
library's start or stop (Orbax writing a checkpoint, ``ray.init`` between making its core worker and
keeping it). Such a step cut short leaves state nothing can clean up. :func:`held` lets it finish,
then raises the interrupt that came meanwhile.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def held() -> Iterator[None]:
    """SIGINT and SIGTERM (where Python handles it) are held while the block runs, then raised
    as ``KeyboardInterrupt``; off the main thread (where no handler can be set) a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    wanted = [signal.SIGINT, signal.SIGTERM]
    before = {sig: signal.getsignal(sig) for sig in wanted}
    held_here = [sig for sig in wanted if callable(before[sig])]  # Python handles it: hold it too
    for sig in held_here:
        signal.signal(sig, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for sig in held_here:
            signal.signal(sig, before[sig])
    if caught:
        raise KeyboardInterrupt
