"""The bulkhead of one adapter: at most ``max_concurrency`` calls to its system at once.

Part of :mod:`portal.adapters.resilience` (which explains why slots are taken before pool threads).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from portal.errors import BackendUnavailable


class BulkheadFull(BackendUnavailable):
    """Every slot of the adapter is taken until the deadline."""

    code = "bulkhead_full"



class Bulkhead:
    """At most ``limit`` calls to one system at a time; waiters are served first come, first served.

    A freed slot is handed straight to the longest waiter (its event is set and
    the slot is already counted for it), so under saturation no lookup is
    overtaken again and again: tail latency stays bounded by the queue ahead.
    Waiters are identified by their event, which :mod:`portal.adapters.fanout`
    shares among the adapters of one lookup (one event per lookup and system).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_use = 0
        self._queue: OrderedDict[threading.Event, bool] = OrderedDict()  # waiter -> slot handed to it

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def try_acquire(self, waker: threading.Event | None = None) -> bool:
        """Take a slot without waiting; if none is free, queue ``waker``, which is set when one is handed over."""
        with self._lock:
            if waker is not None and self._queue.get(waker):
                del self._queue[waker]  # handed over by release(); already counted in _in_use
                return True
            # A free slot means nobody is queued: release() hands slots to waiters before freeing them.
            if self._in_use < self.limit:
                self._in_use += 1
                return True
            if waker is not None:
                self._queue.setdefault(waker, False)
            return False

    def acquire(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a slot (for callers that own their thread)."""
        waker = threading.Event()
        deadline = time.monotonic() + max(0.0, timeout)
        while not self.try_acquire(waker):
            left = deadline - time.monotonic()
            if left <= 0 or not waker.wait(left):
                if self.try_acquire(waker):  # handed over just as the time ran out
                    return True
                self.forget(waker)
                return False
            waker.clear()
        return True

    def forget(self, waker: threading.Event) -> None:
        """A waiter gave up; a slot already handed to it goes to the next one."""
        with self._lock:
            handed = self._queue.pop(waker, False)
        if handed:
            self.release()

    def release(self) -> None:
        with self._lock:
            if self._in_use <= 0:
                raise ValueError("bulkhead released more often than acquired")
            target = next((waker for waker, handed in self._queue.items() if not handed), None)
            if target is None:
                self._in_use -= 1
            else:
                self._queue[target] = True
        if target is not None:
            target.set()
