"""Ask many systems about one customer at once, under one deadline (DESIGN §3).

A slow or broken system costs its own panel, never the page: every adapter's
lookup runs on a shared, bounded thread pool (one per app, see
:func:`make_executor`); :func:`fan_out` waits for them in the calling thread and
turns whatever has not finished by the deadline into a ``timeout`` result. It
never raises.

Around each ``adapter.lookup`` sits the adapter's guard
(:mod:`portal.adapters.resilience`): a circuit breaker (an open one answers
``unavailable`` at once), a bulkhead (at most ``max_concurrency`` calls to one
system, so a hanging system cannot occupy the whole pool) and bounded retries
with jitter, all inside the same deadline.

Key chaining (:mod:`portal.adapters.chain`): an adapter whose ``key`` reads
another adapter's field starts as soon as that upstream has answered — the
waves of :func:`~portal.adapters.chain.plan_waves`, without waiting for the
rest of a wave — and gets only the time left of the one deadline. If the
upstream is not among ``adapters`` (hidden from the operator: it is *not*
queried on their behalf), not ``ok``, or lacks the field, the adapter's result
is an ``error`` saying what it needed.

The pool is bounded so that a burst of lookups cannot create unbounded threads;
a lookup that only starts after the deadline (because the pool was busy) is
skipped rather than run for nobody.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections.abc import Sequence

from portal.adapters import chain
from portal.adapters.base import Adapter, Status, SystemResult, format_seconds
from portal.adapters.resilience import CircuitOpen, Guard, Ticket, guard_for

log = logging.getLogger(__name__)

THREAD_NAME_PREFIX = "portal-fanout"


def make_executor(max_workers: int = 32) -> cf.ThreadPoolExecutor:
    """The app's shared lookup pool; size it for (concurrent lookups x systems) you accept."""
    return cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=THREAD_NAME_PREFIX)


def fan_out(
    adapters: Sequence[Adapter],
    key: str,
    *,
    deadline_s: float,
    executor: cf.Executor,
    correlation_id: str | None = None,
) -> list[SystemResult]:
    """One :class:`SystemResult` per adapter, in the order of ``adapters``."""
    if not adapters:
        return []
    deadline = time.monotonic() + deadline_s
    return _FanOut(list(adapters), key, deadline, deadline_s, executor, correlation_id).run()


class _FanOut:
    """The state of one fan-out; lives in the calling thread, which alone touches it.

    Pool threads only run :func:`_run` and set ``wake`` when done; bulkheads set
    it when a slot frees up. The loop re-examines everything after each wake-up,
    so no event can be missed between a check and a wait.
    """

    def __init__(self, adapters: list[Adapter], customer: str, deadline: float, deadline_s: float,
                 executor: cf.Executor, correlation_id: str | None) -> None:
        self.adapters = adapters
        self.customer = customer
        self.deadline = deadline
        self.deadline_s = deadline_s
        self.executor = executor
        self.correlation_id = correlation_id
        self.plan = chain.plan_lookup(adapters)
        self.names = {a.id: a.config.name for a in adapters}
        self.results: list[SystemResult | None] = [None] * len(adapters)
        self.by_id: dict[str, SystemResult] = {}
        self.keys: dict[int, str] = {}
        self.running: dict[int, tuple[cf.Future[SystemResult], Ticket]] = {}
        self.waiting: set[int] = set()  # ready, but every bulkhead slot of the system is taken
        self.wake = threading.Event()

    def run(self) -> list[SystemResult]:
        for index, reason in self.plan.broken.items():
            self._finish(index, self._error(index, reason))
        while True:
            self.wake.clear()  # before looking: anything that happens from now on wakes the wait below
            self._collect_done()
            self._start_ready()
            if not self.running and not self.waiting:
                break
            left = self.deadline - time.monotonic()
            if left <= 0:
                break
            self.wake.wait(left)
        self._expire()
        return [result for result in self.results if result is not None]

    # -- starting ------------------------------------------------------------------------

    def _start_ready(self) -> None:
        progressed = True
        while progressed:  # a refusal finishes an adapter at once, which may make its dependents ready
            progressed = False
            for index in range(len(self.adapters)):
                if self.results[index] is not None or index in self.running:
                    continue
                if index in self.waiting or self._upstreams_done(index):
                    progressed |= self._try_start(index)

    def _upstreams_done(self, index: int) -> bool:
        return all(self.results[up] is not None for up in self.plan.upstreams[index])

    def _try_start(self, index: int) -> bool:
        """Start (or refuse) one adapter; ``True`` if it finished on the spot."""
        adapter = self.adapters[index]
        if index not in self.keys:
            try:
                self.keys[index] = chain.resolve_key(adapter.config.key, self.customer, self.by_id, names=self.names)
            except chain.KeyUnavailable as exc:
                self._finish(index, self._error(index, exc.detail, attempted=False))
                return True
        guard = guard_for(adapter)
        try:
            ticket = guard.enter(self.wake)
        except CircuitOpen as exc:
            self.waiting.discard(index)
            self._finish(index, guard.refused(exc))
            return True
        if ticket is None:
            self.waiting.add(index)  # the bulkhead sets self.wake when a slot frees up
            return False
        self.waiting.discard(index)
        try:
            future = self.executor.submit(_run, adapter, guard, ticket, self.keys[index], self.deadline,
                                          self.deadline_s, self.correlation_id)
        except Exception as exc:  # e.g. the pool is shut down while the app stops
            guard.abandon(ticket)
            log.error("could not start lookup on %s: %s", adapter.id, exc)
            self._finish(index, self._error(index, "lookup could not be started"))
            return True
        self.running[index] = (future, ticket)
        future.add_done_callback(lambda _future: self.wake.set())
        return False

    # -- finishing -----------------------------------------------------------------------

    def _collect_done(self) -> None:
        for index, (future, _ticket) in list(self.running.items()):
            if future.done():
                del self.running[index]
                self._finish(index, self._outcome(index, future))

    def _expire(self) -> None:
        """The deadline has passed (or nothing is left to do): give everything unfinished a status."""
        for index, (future, ticket) in list(self.running.items()):
            del self.running[index]
            if future.done():
                self._finish(index, self._outcome(index, future))
                continue
            started = not future.cancel()
            if not started:  # it had not started, and now never will: give its slot back
                guard_for(self.adapters[index]).abandon(ticket)
            self._finish(index, timeout_result(self.adapters[index], self.deadline_s, attempted=started))
        for index in sorted(self.waiting):
            guard = guard_for(self.adapters[index])
            guard.stop_waiting(self.wake)
            self._finish(index, SystemResult(self.adapters[index].id, Status.UNAVAILABLE,
                                             elapsed_ms=int(round(self.deadline_s * 1000)),
                                             error=guard.bulkhead_message(), attempted=False))
        self.waiting.clear()
        for index in range(len(self.adapters)):  # never started: their upstreams did not answer in time
            if self.results[index] is None:
                try:
                    chain.resolve_key(self.adapters[index].config.key, self.customer, self.by_id, names=self.names)
                except chain.KeyUnavailable as exc:
                    self._finish(index, self._error(index, exc.detail, attempted=False))
                else:
                    self._finish(index, timeout_result(self.adapters[index], self.deadline_s, attempted=False))

    def _outcome(self, index: int, future: cf.Future[SystemResult]) -> SystemResult:
        adapter = self.adapters[index]
        try:
            return future.result()
        except cf.CancelledError:
            return timeout_result(adapter, self.deadline_s)
        except Exception:  # _run never raises; if it does, log it and cost only this panel
            log.exception("lookup on %s raised", adapter.id)
            return self._error(index, "unexpected adapter failure (logged)")

    def _finish(self, index: int, result: SystemResult) -> None:
        self.results[index] = result
        self.by_id.setdefault(self.adapters[index].id, result)

    def _error(self, index: int, message: str, attempted: bool = True) -> SystemResult:
        return SystemResult(self.adapters[index].id, Status.ERROR, error=message, attempted=attempted)


def _run(adapter: Adapter, guard: Guard, ticket: Ticket, key: str, deadline: float, deadline_s: float,
         correlation_id: str | None) -> SystemResult:
    """On a pool thread: one guarded lookup, unless nobody is waiting for it any more."""
    if deadline - time.monotonic() <= 0:  # queued behind other lookups until the deadline passed
        guard.abandon(ticket)
        return timeout_result(adapter, deadline_s, attempted=False)
    return guard.run(
        ticket,
        lambda left: adapter.lookup(key, timeout=left, correlation_id=correlation_id),
        deadline,
    )


def timeout_result(adapter: Adapter, deadline_s: float, attempted: bool = True) -> SystemResult:
    return SystemResult(
        system_id=adapter.id,
        status=Status.TIMEOUT,
        elapsed_ms=int(round(deadline_s * 1000)),
        error=f"no answer within {format_seconds(deadline_s)} s",
        attempted=attempted,
    )
