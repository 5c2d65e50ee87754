"""The memory of the captures running at once on each machine, so that together they fit.

Each capture's working size is fitted to the whole budget (``walkthrough.memory``: ``max_memory``,
else 75 % of the machine's memory), never to a share of it, so its frames do not depend on how
many workers run or what runs beside it, and a re-run resumes. What the budget bounds here is the
sum: a worker whose capture would take its machine past the budget, beside the captures running
there, waits until enough of them finish. Waiting costs only parallelism; working narrower would
cost every frame's detail and make the output depend on ``--workers``.

    worker (a capture loaded, its need known) ── take(node, worker, need, budget) ──► MemoryGate
      False: poll again in WAIT_SECONDS        ◄── True: held until leave() or settle() ──

- A worker with its interpolator made holds its base (``memory.BASE_BYTES``: Python, JAX, the
  network) while idle (:meth:`MemoryGate.settle`); a capture replaces that with its whole need.
- A capture admitted when no other capture runs on its machine, even when the idle workers'
  bases and its need exceed the budget: nothing it could wait for would free that memory.
- First come, first served: the first capture refused on a machine keeps its place. A later one
  starts before it only where both fit, so a large capture is not passed over by small ones for
  the whole run while its worker idles.
- Plain Python: :mod:`.ray_runner` makes it one Ray actor for the run (no CPU asked), which the
  workers ask (``take`` answers at once; the worker polls, so Ctrl-C stops a waiting worker).
"""

from __future__ import annotations

#: How often a waiting worker asks again.
WAIT_SECONDS = 0.5


class MemoryGate:
    """Bytes held per machine (``node``: its host name) and per worker."""

    def __init__(self) -> None:
        self.held: dict[str, dict[int, int]] = {}
        self.running: dict[str, set[int]] = {}
        self.waiting: dict[str, dict[int, int]] = {}  # per machine, in order: worker -> need
        self.pids: dict[str, dict[int, int]] = {}  # the process that last spoke for a worker

    def settle(self, node: str, worker: int, base: int, pid: int = 0) -> None:
        """``worker`` (process ``pid``) is idle on ``node`` holding ``base`` bytes (its
        interpolator)."""
        self.pids.setdefault(node, {})[worker] = pid
        self.held.setdefault(node, {})[worker] = base
        self.running.setdefault(node, set()).discard(worker)
        self.waiting.setdefault(node, {}).pop(worker, None)

    def take(self, node: str, worker: int, need: int, budget: int, pid: int = 0) -> bool:
        """Whether ``worker``'s capture, expected to peak at ``need`` bytes, may start on
        ``node`` now within ``budget`` bytes (True: held until :meth:`settle` or :meth:`leave`)."""
        held, running = self.held.setdefault(node, {}), self.running.setdefault(node, set())
        queue = self.waiting.setdefault(node, {})
        order = list(queue)
        ahead = order[: order.index(worker)] if worker in queue else order
        others = sum(b for w, b in held.items() if w != worker)
        # the first capture waiting ahead of this one keeps its place: its need is set aside
        kept = max(0, queue[ahead[0]] - held.get(ahead[0], 0)) if ahead else 0
        alone = not (running - {worker}) and not ahead
        if not alone and others + need + kept > budget:
            queue.setdefault(worker, need)
            return False
        queue.pop(worker, None)
        self.pids.setdefault(node, {})[worker] = pid
        held[worker] = need
        running.add(worker)
        return True

    def leave(self, node: str, worker: int, pid: int = 0) -> None:
        """``worker``'s process ``pid`` is gone from ``node`` (it died): it holds nothing. Said
        after its restart has settled (Ray restarts it at once), it would drop the new process's
        memory: a ``pid`` other than the one that last spoke for the worker changes nothing."""
        if pid and self.pids.get(node, {}).get(worker, pid) != pid:
            return
        self.held.get(node, {}).pop(worker, None)
        self.running.get(node, set()).discard(worker)
        self.waiting.get(node, {}).pop(worker, None)
