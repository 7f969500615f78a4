"""Resilience per adapter: bounded retries with jitter, a circuit breaker and a bulkhead (DESIGN §3).

::

    fan_out -> guard.enter()   breaker open?   -> unavailable "circuit open after 5 failures; retrying in 12s"
                   |           no free slot?   -> wait (holding no pool thread) until the deadline, then
                   |                              unavailable "too many concurrent requests to <name>"
                   v
       pool thread: guard.run(ticket, attempt, deadline)
                   attempt -> ok / not_found --------------------------------> breaker: success
                      |  unavailable, or timeout with time for another full try:
                      +-> sleep uniform(0, backoff * 2**n) (full jitter), try again (at most `retries` more)
                   timeout / unavailable / error ----------------------------> breaker: failure

Kinds know nothing of this: a guard wraps ``adapter.lookup``, which never raises
and reports every failure as a status, so the guard decides from the status
(``unavailable`` and ``timeout`` are the retry-safe ones, matching
``BackendError.retry_safe``; ``error`` and ``not_found`` are never retried).

There is one guard per adapter *instance* (:func:`guard_for`): every lookup and
thread shares its breaker and bulkhead, and an adapter rebuilt from a changed
document starts with a fresh one.

Why the bulkhead slot is taken before a pool thread is: a slot waited for *on* a
pool thread would let a hanging system hold (max_concurrency + every waiter)
threads of the shared pool. :meth:`Guard.enter` never blocks; a lookup without a
slot waits in its own (request) thread, woken when a slot frees up.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from portal.adapters.base import Adapter, Status, SystemResult
from portal.adapters.bulkhead import Bulkhead, BulkheadFull  # noqa: F401  (part of this module's API)
from portal.adapters.config import AdapterConfig
from portal.errors import BackendUnavailable

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Attempt = Callable[[float], SystemResult]  # seconds left -> result; never raises

#: Statuses that count against the breaker; ``ok`` and ``not_found`` mean the system answered.
FAILURES = frozenset({Status.TIMEOUT, Status.UNAVAILABLE, Status.ERROR})
#: No attempt starts with less than this left: it could only time out, and would cost a connection.
MIN_ATTEMPT_S = 0.05


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(BackendUnavailable):
    """The breaker refuses the call; safe to retry, later."""

    code = "circuit_open"


def _in(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


class CircuitBreaker:
    """Consecutive failures open it; after ``reset_s`` one probe call may go through.

    A successful probe closes it, a failed one opens it again for ``reset_s``.
    While open (or while the probe is out), calls are refused at once: a system
    that is down costs its panel nothing but a message, and gets room to recover.
    Thread-safe; ``clock`` is monotonic time, ``wall_clock`` only feeds
    :attr:`opened_at` for people and the monitor.
    """

    def __init__(self, failure_threshold: int, reset_s: float, *, clock: Clock = time.monotonic,
                 wall_clock: Clock = time.time, name: str = "?") -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_mono = 0.0
        self._opened_wall: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._current()

    @property
    def failures(self) -> int:
        """Consecutive failures so far (0 after a success)."""
        return self._failures

    @property
    def opened_at(self) -> float | None:
        """When it last opened (seconds since the epoch), or ``None`` while closed."""
        return self._opened_wall

    def retry_in(self) -> float | None:
        """Seconds until a probe may go through, while open."""
        with self._lock:
            return self._left() if self._current() is BreakerState.OPEN else None

    def admit(self) -> bool:
        """Let one call through: ``True`` if it is the half-open probe; :class:`CircuitOpen` if refused."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return False
            if state is BreakerState.HALF_OPEN and not self._probing:
                self._state = BreakerState.HALF_OPEN
                self._probing = True
                return True
            if state is BreakerState.HALF_OPEN:
                raise CircuitOpen(f"circuit open after {self._failures} failures; a probe call is under way")
            raise CircuitOpen(f"circuit open after {self._failures} failures; retrying in {_in(self._left())}")

    def release_probe(self) -> None:
        """The probe was admitted but never ran (no slot, past the deadline): let another one try."""
        with self._lock:
            self._probing = False

    def record(self, success: bool, *, probe: bool = False) -> None:
        with self._lock:
            if probe:
                self._probing = False
            if success:
                if probe or self._state is BreakerState.CLOSED:
                    self._close()
                # A call admitted before the breaker opened, answering late, does not close it:
                # while open, only the probe decides.
                return
            self._failures += 1
            if probe or (self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold):
                self._open()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = self._current()
            return {"state": state.value, "failures": self._failures, "opened_at": self._opened_wall,
                    "retry_in_s": self._left() if state is BreakerState.OPEN else None}

    def _left(self) -> float:
        return max(0.0, self._opened_mono + self.reset_s - self._clock())

    def _current(self) -> BreakerState:
        # OPEN turns HALF_OPEN by the passing of time; nothing needs to run for that to happen.
        if self._state is BreakerState.OPEN and self._clock() - self._opened_mono >= self.reset_s:
            return BreakerState.HALF_OPEN
        return self._state

    def _open(self) -> None:
        if self._state is not BreakerState.OPEN:
            log.warning("circuit of %s opened after %d consecutive failures", self.name, self._failures)
        self._state = BreakerState.OPEN
        self._opened_mono = self._clock()
        self._opened_wall = self._wall_clock()

    def _close(self) -> None:
        if self._state is not BreakerState.CLOSED:
            log.info("circuit of %s closed again", self.name)
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_wall = None


class Ticket:
    """Permission for one call: holds a bulkhead slot (and perhaps the probe) until closed once."""

    __slots__ = ("probe", "_open")

    def __init__(self, probe: bool) -> None:
        self.probe = probe
        self._open = True


class Guard:
    """Breaker, bulkhead and retry policy of one adapter; shared by every thread."""

    def __init__(self, system_id: str, name: str, *, retries: int = 1, backoff_s: float = 0.05,
                 breaker_failures: int = 5, breaker_reset_s: float = 30.0, max_concurrency: int = 16,
                 clock: Clock = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, wall_clock: Clock = time.time) -> None:
        self.system_id = system_id
        self.name = name
        self.retries = retries
        self.backoff_s = backoff_s
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset_s, clock=clock, wall_clock=wall_clock,
                                      name=system_id)
        self.bulkhead = Bulkhead(max_concurrency)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    @classmethod
    def from_config(cls, config: AdapterConfig, **overrides: Any) -> Guard:
        return cls(config.id, config.name, retries=config.retries, backoff_s=config.retry_backoff_s,
                   breaker_failures=config.breaker_failures, breaker_reset_s=config.breaker_reset_s,
                   max_concurrency=config.max_concurrency, **overrides)

    # -- admission -----------------------------------------------------------------------

    def enter(self, waker: threading.Event | None = None) -> Ticket | None:
        """A ticket, or ``None`` when every slot is taken (``waker`` is set when one frees up).

        Raises :class:`CircuitOpen` when the breaker refuses. Never blocks.
        """
        try:
            probe = self.breaker.admit()
        except CircuitOpen:
            if waker is not None:
                self.bulkhead.forget(waker)  # it may have been queued, or even handed a slot
            raise
        if not self.bulkhead.try_acquire(waker):
            if probe:
                self.breaker.release_probe()
            return None
        return Ticket(probe)

    def enter_blocking(self, deadline: float) -> Ticket:
        """Like :meth:`enter`, but wait for a slot until ``deadline``; :class:`BulkheadFull` after."""
        probe = self.breaker.admit()
        if not self.bulkhead.acquire(deadline - self._clock()):
            if probe:
                self.breaker.release_probe()
            raise BulkheadFull(self.bulkhead_message())
        return Ticket(probe)

    def stop_waiting(self, waker: threading.Event) -> None:
        self.bulkhead.forget(waker)

    def abandon(self, ticket: Ticket) -> None:
        """The call never ran (cancelled, or started after the deadline): give everything back."""
        if ticket.probe:
            self.breaker.release_probe()
        self._close(ticket)

    def bulkhead_message(self) -> str:
        return f"too many concurrent requests to {self.name}"

    def refused(self, exc: BackendUnavailable) -> SystemResult:
        """The result of a call the guard did not let through."""
        return SystemResult(system_id=self.system_id, status=Status.UNAVAILABLE, error=exc.detail, attempted=False)

    # -- the call ------------------------------------------------------------------------

    def run(self, ticket: Ticket, attempt: Attempt, deadline: float) -> SystemResult:
        """Run ``attempt`` (with retries) under ``ticket``; records the outcome; never raises."""
        started = self._clock()
        attempts = 0
        try:
            while True:
                tried_at = self._clock()
                result = self._attempt(attempt, max(0.0, deadline - tried_at))
                attempts += 1
                pause = self._retry_pause(result, attempts, self._clock() - tried_at, deadline)
                if pause is None:
                    break
                log.info("retrying %s after %s (%s), in %.3f s", self.system_id, result.status.value,
                         result.error, pause)
                self._sleep(pause)
            self.breaker.record(result.status not in FAILURES, probe=ticket.probe)
            if attempts > 1:
                result = replace(
                    result,
                    elapsed_ms=int(round((self._clock() - started) * 1000)),
                    error=f"{result.error} (after {attempts} attempts)" if result.error else None,
                )
            return result
        finally:
            self._close(ticket)

    def call(self, attempt: Attempt, deadline: float) -> SystemResult:
        """Admission, waiting for a slot in this thread, and :meth:`run`: for callers outside fan_out."""
        try:
            ticket = self.enter_blocking(deadline)
        except BackendUnavailable as exc:
            return self.refused(exc)
        return self.run(ticket, attempt, deadline)

    def health(self) -> dict[str, Any]:
        """What the monitor shows: breaker state, consecutive failures, when it opened, slots in use."""
        body = self.breaker.snapshot()
        body.update(in_flight=self.bulkhead.in_use, max_concurrency=self.bulkhead.limit)
        return body

    def _attempt(self, attempt: Attempt, left: float) -> SystemResult:
        try:
            return attempt(left)
        except Exception:  # lookup() promises not to raise; if it does, it costs a panel, not a thread
            log.exception("lookup on %s raised", self.system_id)
            return SystemResult(system_id=self.system_id, status=Status.ERROR,
                                error="unexpected adapter failure (logged)")

    def _retry_pause(self, result: SystemResult, attempts: int, took: float, deadline: float) -> float | None:
        """Seconds to wait before another attempt, or ``None`` for no retry."""
        if attempts > self.retries:
            return None
        if result.status is Status.UNAVAILABLE:
            needed = MIN_ATTEMPT_S
        elif result.status is Status.TIMEOUT:
            # Retry a timeout only if a try as long as the failed one still fits: a shorter one
            # would most likely time out too, and hold a thread and a connection meanwhile.
            needed = max(MIN_ATTEMPT_S, took)
        else:
            return None  # error and not_found are answers; asking again changes nothing
        spare = deadline - self._clock() - needed
        if spare <= 0:
            return None
        # Full jitter: spreads the retries of many lookups that failed together.
        return min(self._rng.uniform(0, self.backoff_s * 2 ** (attempts - 1)), spare)

    def _close(self, ticket: Ticket) -> None:
        if ticket._open:
            ticket._open = False
            self.bulkhead.release()


# -- one guard per adapter instance ---------------------------------------------------------

_guards: weakref.WeakKeyDictionary[Adapter, Guard] = weakref.WeakKeyDictionary()
_guards_lock = threading.Lock()


def guard_for(adapter: Adapter) -> Guard:
    """The adapter's guard, made from its config on first use; dies with the adapter."""
    guard = _guards.get(adapter)
    if guard is None:
        with _guards_lock:
            guard = _guards.get(adapter)
            if guard is None:
                guard = _guards[adapter] = Guard.from_config(adapter.config)
    return guard


def install_guard(adapter: Adapter, guard: Guard) -> None:
    """Use ``guard`` for ``adapter`` (tests: a fake clock; or keeping state across a rebuild)."""
    with _guards_lock:
        _guards[adapter] = guard


def health_of(adapter: Adapter) -> dict[str, Any]:
    return guard_for(adapter).health()
