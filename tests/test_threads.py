"""The shared CPU pool: work started in the background gives the same result as in the caller's
thread, and an error raised there reaches the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from viewsynth.threads import in_background


def test_background_work_runs_on_another_thread_and_gives_the_same_result():
    seen = {}

    def work(x, *, scale):
        seen["thread"] = threading.current_thread().name
        return np.cumsum(x) * scale

    x = np.arange(1000, dtype=np.float32)
    assert np.array_equal(in_background(work, x, scale=2.0).result(), np.cumsum(x) * 2.0)
    assert seen["thread"].startswith("viewsynth-cpu")


def test_an_error_in_the_background_reaches_the_caller():
    def fail():
        raise ValueError("bad pair")

    with pytest.raises(ValueError, match="bad pair"):
        in_background(fail).result()


def test_work_started_from_the_pool_runs_at_once_and_cannot_deadlock():
    # every worker waits for work queued behind it: with plain submission this would hang
    import os

    def outer(i):
        return in_background(lambda: (i, threading.current_thread().name)).result(timeout=10)

    jobs = [in_background(outer, i) for i in range(4 * max(2, os.cpu_count() or 2))]
    results = [job.result(timeout=30) for job in jobs]
    assert [i for i, _ in results] == list(range(len(jobs)))
    assert all(name.startswith("viewsynth-cpu") for _, name in results)


def test_then_starts_work_when_a_future_is_done_and_hands_on_errors():
    from concurrent.futures import Future

    from viewsynth.threads import now, then

    gate: Future = Future()
    order = []
    after = then(gate, lambda x: order.append(("then", x)) or x * 2, 21)
    order.append(("before",))
    assert not after.done()  # nothing ran before the gate was done
    gate.set_result(None)
    assert after.result(timeout=10) == 42 and order == [("before",), ("then", 21)]
    # a future done already: at once, here
    assert then(gate, threading.current_thread).result().name == threading.current_thread().name

    def fail():
        raise ValueError("no encoding")

    with pytest.raises(ValueError, match="no encoding"):
        then(gate, fail).result(timeout=10)
    with pytest.raises(ValueError, match="no encoding"):
        now(fail).result()
