"""Judging a system from what was observed of it: ``up``, ``degraded``, ``down`` with hysteresis.

Pure logic, no database and no Flask, so every rule is tested directly. The checker keeps the
counters in ``monitor_systems`` (a :class:`~portal.monitor.models.SystemHealth` row has the same
attributes as :class:`Tally`) and calls :func:`advance` once per observation, in time order.

Counters (all "in a row", i.e. consecutive):

* ``failures``  — failed observations; reset by any answer.
* ``successes`` — answers that count towards ``up``: any answer, except that while the system is
  ``degraded`` only a fast answer counts (a slow one resets it), so leaving ``degraded`` takes
  ``up_after`` fast answers in a row.
* ``slow``      — answers slower than ``degraded_ms``; reset by a fast answer or a failure.

Rules (why: one blip must never page anybody, and a flapping system must not flap the page):

* any state but ``down``: ``down_after`` failures in a row -> ``down``;
* ``unknown``: the first answer -> ``up`` (``degraded`` if ``degraded_after`` is 1 and it was slow);
  failures move it only once there are ``down_after`` of them;
* ``up``: ``degraded_after`` slow answers in a row -> ``degraded``;
* ``degraded``: ``up_after`` fast answers in a row -> ``up``;
* ``down``: ``up_after`` answers in a row -> ``up``, or ``degraded`` when the last
  ``degraded_after`` of them were all slow. A system that has started answering again but not yet
  ``up_after`` times stays ``down``: "degraded" means slow, not "half recovered", and the alerts
  announce a recovery only once it has held.

So alternating failure/answer never reaches ``down`` (with ``down_after`` >= 2), and a single slow
answer never reaches ``degraded`` (with ``degraded_after`` >= 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from portal.monitor.models import DEGRADED, DOWN, UNKNOWN, UP

#: Where an observation came from: one of the three probes, or a real lookup's answer.
SOURCES = ("connect", "wsdl", "canary", "lookup")
REASON_MAX = 300  # the column's width


@dataclass(frozen=True)
class Observation:
    """One look at a system: did it answer usefully, how fast, and if not, why (for people)."""

    at: datetime  # UTC
    source: str  # connect | wsdl | canary | lookup
    ok: bool
    status: str  # ok | not_found | timeout | error | unavailable
    latency_ms: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Thresholds:
    """How many observations in a row it takes to change state, and what counts as slow."""

    down_after: int = 3
    up_after: int = 2
    degraded_ms: int = 1500
    degraded_after: int = 3

    @classmethod
    def from_settings(cls, settings, degraded_ms: int | None = None) -> Thresholds:
        """The portal's ``[monitor]`` settings; ``degraded_ms`` from an adapter's ``[probe]`` wins."""
        return cls(
            down_after=settings.monitor_down_after,
            up_after=settings.monitor_up_after,
            degraded_ms=degraded_ms or settings.monitor_degraded_ms,
            degraded_after=settings.monitor_degraded_after,
        )


class Counters(Protocol):
    """What :func:`advance` reads and changes: a ``SystemHealth`` row, or a :class:`Tally`."""

    state: str
    failures: int
    successes: int
    slow: int


@dataclass
class Tally:
    """Counters kept in memory (tests, dry runs)."""

    state: str = UNKNOWN
    failures: int = 0
    successes: int = 0
    slow: int = 0


@dataclass(frozen=True)
class Transition:
    """A change of state, with a short reason people read on the page and in alerts."""

    from_state: str
    to_state: str
    reason: str


def is_slow(observation: Observation, thresholds: Thresholds) -> bool:
    return observation.ok and observation.latency_ms is not None and observation.latency_ms > thresholds.degraded_ms


def advance(counters: Counters, observation: Observation, thresholds: Thresholds) -> Transition | None:
    """Count ``observation`` in and move ``counters.state`` when a rule says so; return the change."""
    _count(counters, observation, thresholds)
    target = _target(counters, thresholds)
    if target is None or target == counters.state:
        return None
    change = Transition(counters.state, target, _reason(counters, observation, thresholds, target)[:REASON_MAX])
    counters.state = target
    if target == DEGRADED:
        counters.successes = 0  # from now on only fast answers count towards "up"
    return change


def _count(counters: Counters, observation: Observation, thresholds: Thresholds) -> None:
    if not observation.ok:
        counters.failures += 1
        counters.successes = 0
        counters.slow = 0
        return
    counters.failures = 0
    if is_slow(observation, thresholds):
        counters.slow += 1
        counters.successes = 0 if counters.state == DEGRADED else counters.successes + 1
    else:
        counters.slow = 0
        counters.successes += 1


def _target(counters: Counters, t: Thresholds) -> str | None:
    state = counters.state
    if state != DOWN and counters.failures >= t.down_after:
        return DOWN
    if counters.failures:
        return None
    if state == UNKNOWN:
        return DEGRADED if counters.slow >= t.degraded_after else UP
    if state == UP and counters.slow >= t.degraded_after:
        return DEGRADED
    if state == DEGRADED and counters.successes >= t.up_after:
        return UP
    if state == DOWN and counters.successes >= t.up_after:
        return DEGRADED if counters.slow >= t.degraded_after else UP
    return None


def _reason(counters: Counters, observation: Observation, t: Thresholds, target: str) -> str:
    what = describe(observation)
    if target == DOWN:
        return f"{_checks(counters.failures, 'failed check')} in a row: {what}"
    if target == DEGRADED:
        return f"{_checks(counters.slow, 'slow answer')} in a row (last {what}; slow is over {t.degraded_ms} ms)"
    if counters.state == UNKNOWN:
        return f"first check answered ({what})"
    if counters.state == DEGRADED:
        return f"{_checks(counters.successes, 'answer')} in a row under {t.degraded_ms} ms (last {what})"
    return f"answered {_checks(counters.successes, 'check')} in a row again (last {what})"


def describe(observation: Observation) -> str:
    """``connection refused``, ``412 ms``, ``timeout``: what one observation says, briefly."""
    if observation.ok:
        return f"{observation.latency_ms} ms" if observation.latency_ms is not None else observation.status
    return observation.error or observation.status


def _checks(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
