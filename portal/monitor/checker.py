"""Recording what the monitor sees: probes it runs and the answers real lookups got.

One tick of the acting monitor, in three steps so that no database transaction is open
while a system is being waited on (on SQLite an open write would block every lookup's
audit event for as long as a probe hangs):

1. :meth:`HealthChecker.due_probes` (read only): which systems are due a probe;
2. :meth:`HealthChecker.run_probes` (no database): run them in parallel, each bounded by
   its adapter's ``timeout_s``;
3. :meth:`HealthChecker.record` (one transaction, one commit by the caller): add rows for
   new systems and drop removed ones, read new ``customer.lookup`` audit events, advance
   every system's state with all observations in time order, write one ``monitor_checks``
   row per observation and one ``monitor_transitions`` row per change.

Real lookups are read from the audit log past a cursor kept in the ``monitor_leases`` row
:data:`CURSOR_NAME`. The cursor row doubles as an optimistic lock: :meth:`record` moves it
only if no other monitor has recorded a tick since this one read it, so two monitors that
both believe they hold the lease (a stalled leader whose lease ran out mid-tick) can never
count the same lookups twice: the late one's transaction is refused (:class:`TickConflict`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.adapters.base import Adapter
from portal.audit.models import AuditEvent
from portal.errors import PortalError
from portal.monitor.lease import EPOCH
from portal.monitor.models import UNKNOWN, Alert, HealthCheck, MonitorLease, StateTransition, SystemHealth
from portal.monitor.probes import run_probe
from portal.monitor.states import Observation, Thresholds, Transition, advance

log = logging.getLogger(__name__)

CURSOR_NAME = "monitor.lookups"
LOOKUP_BATCH = 5000  # audit events read per tick; a backlog is worked off over several ticks
ANSWERED = ("ok", "not_found")
LOOKUP_ERRORS = {
    "timeout": "no answer in time to an agent's lookup",
    "unavailable": "could not be reached by an agent's lookup",
    "error": "answered an agent's lookup with an error",
}


class TickConflict(PortalError):
    """Another monitor recorded a tick meanwhile; this tick's work is dropped (safe to retry)."""

    code = "monitor_tick_conflict"
    title = "Another monitor is acting"


@dataclass(frozen=True)
class ProbeTask:
    """One probe due now."""

    adapter: Adapter
    kind: str
    timeout_s: float
    number: str | None = None


@dataclass
class TickReport:
    """What one :meth:`HealthChecker.record` did, for logs and tests."""

    probes: int = 0
    lookups: int = 0  # audit events read
    observations: int = 0
    transitions: list[tuple[str, Transition]] = field(default_factory=list)


class HealthChecker:
    """The monitor's bookkeeping; holds a small thread pool for probes (call :meth:`close`)."""

    def __init__(self, settings: Any, *, max_workers: int = 16, batch: int = LOOKUP_BATCH) -> None:
        self.settings = settings
        self.batch = batch
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None

    # -- per-adapter settings -------------------------------------------------------------

    def interval_s(self, adapter: Adapter) -> float:
        return adapter.config.probe.interval_s or self.settings.monitor_interval_s

    def thresholds(self, adapter: Adapter) -> Thresholds:
        return Thresholds.from_settings(self.settings, adapter.config.probe.degraded_ms)

    # -- 1. what is due -------------------------------------------------------------------

    def due_probes(self, session: Session, adapters: Iterable[Adapter], now: datetime) -> list[ProbeTask]:
        """Enabled systems with a probe whose ``next_probe_at`` has come (or that have no row yet)."""
        next_at = dict(session.execute(select(SystemHealth.system_id, SystemHealth.next_probe_at)).all())
        due = []
        for adapter in adapters:
            kind = adapter.config.probe.kind_for(adapter.config.kind,
                                                 has_description=adapter.service_description_url() is not None)
            if not adapter.config.enabled or kind == "none":
                continue
            when = next_at.get(adapter.id)
            if when is None or when <= now:
                due.append(ProbeTask(adapter, kind, adapter.config.timeout_s, adapter.config.probe.number))
        return due

    # -- 2. probing -----------------------------------------------------------------------

    def run_probes(self, tasks: Sequence[ProbeTask]) -> list[tuple[str, Observation]]:
        """Run ``tasks`` in parallel; every task yields one observation (a stuck probe: a timeout)."""
        if not tasks:
            return []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="monitor-probe")
        futures = [self._pool.submit(run_probe, t.adapter, t.kind, t.timeout_s, t.number) for t in tasks]
        wait(futures, timeout=max(t.timeout_s for t in tasks) + 5.0)
        seen = []
        for task, future in zip(tasks, futures, strict=True):
            if future.done() and future.exception() is None:
                observation = future.result()
            else:  # run_probe bounds itself; this only guards against a kind ignoring its timeout
                observation = Observation(clock.utcnow(), task.kind, False, "timeout", None, "the probe did not finish")
            if observation is not None:
                seen.append((task.adapter.id, observation))
        return seen

    # -- 3. recording ---------------------------------------------------------------------

    def record(self, session: Session, adapters: Sequence[Adapter], probed: Sequence[tuple[str, Observation]],
               now: datetime, *, holder: str = "") -> TickReport:
        """Everything observed since the last tick, into the database (the caller commits once)."""
        by_id = {adapter.id: adapter for adapter in adapters}
        rows = self.sync_systems(session, by_id, now)
        cursor_row = self._cursor_row(session)
        old_cursor, old_stamp = cursor_row.cursor, cursor_row.renewed_at
        events = session.execute(
            select(AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.details)
            .where(AuditEvent.action == "customer.lookup", AuditEvent.seq > old_cursor)
            .order_by(AuditEvent.seq).limit(self.batch)).all()
        observed = [*probed, *lookup_observations(events)]
        observed.sort(key=lambda item: item[1].at)
        report = TickReport(probes=len(probed), lookups=len(events))
        thresholds = {system_id: self.thresholds(adapter) for system_id, adapter in by_id.items()}
        checks: list[dict[str, Any]] = []
        for system_id, observation in observed:
            row = rows.get(system_id)
            if row is None:  # a system no longer (or not yet) in the catalogue
                continue
            change = advance(row, observation, thresholds[system_id])
            _note(row, observation)
            checks.append(_check_row(system_id, observation))
            if change is not None:
                self._transition(session, row, observation.at, change)
                report.transitions.append((system_id, change))
        for system_id, _ in probed:
            if system_id in rows:
                rows[system_id].next_probe_at = now + timedelta(seconds=self.interval_s(by_id[system_id]))
        if checks:
            session.execute(insert(HealthCheck), checks)
        report.observations = len(checks)
        new_cursor = events[-1].seq if events else old_cursor
        moved = session.execute(
            update(MonitorLease)
            .where(MonitorLease.name == CURSOR_NAME, MonitorLease.cursor == old_cursor,
                   MonitorLease.renewed_at == old_stamp)
            # holder and renewed_at: which monitor recorded last, and when (``portal monitor status``).
            # expires_at stays in 1970: this row is no lease, and must never look like a live one.
            .values(cursor=new_cursor, renewed_at=_later(now, old_stamp), holder=holder or "-")
            .execution_options(synchronize_session=False)).rowcount
        if moved != 1:
            raise TickConflict("another monitor recorded a tick meanwhile; this one is dropped")
        return report

    def sync_systems(self, session: Session, adapters: dict[str, Adapter], now: datetime) -> dict[str, SystemHealth]:
        """A row per system in force (new ones ``unknown``); rows of removed systems are deleted."""
        rows = {row.system_id: row for row in session.scalars(select(SystemHealth))}
        gone = [system_id for system_id in rows if system_id not in adapters]
        if gone:
            session.execute(delete(SystemHealth).where(SystemHealth.system_id.in_(gone))
                            .execution_options(synchronize_session=False))
            for system_id in gone:
                session.expunge(rows.pop(system_id))
            log.info("no longer monitored (removed from the catalogue): %s", ", ".join(gone))
        for system_id in adapters:
            if system_id not in rows:
                row = SystemHealth(system_id=system_id, state=UNKNOWN, since=now, failures=0, successes=0, slow=0,
                                   reason="not checked yet")
                session.add(row)
                rows[system_id] = row
        return rows

    def _cursor_row(self, session: Session) -> MonitorLease:
        """The lookups cursor; created at the audit log's current end, so a first start judges the present."""
        row = session.get(MonitorLease, CURSOR_NAME)
        if row is not None:
            return row
        end = session.scalar(select(func.max(AuditEvent.seq))) or 0
        try:
            with session.begin_nested():
                session.add(MonitorLease(name=CURSOR_NAME, holder="-", acquired_at=EPOCH, renewed_at=EPOCH,
                                         expires_at=EPOCH, cursor=end))
        except IntegrityError:  # another monitor created it at the same moment: use theirs
            pass
        return session.get(MonitorLease, CURSOR_NAME, populate_existing=True)

    def _transition(self, session: Session, row: SystemHealth, at: datetime, change: Transition) -> None:
        transition = StateTransition(system_id=row.system_id, at=at, from_state=change.from_state,
                                     to_state=change.to_state, reason=change.reason)
        session.add(transition)
        session.flush()
        row.transition_id = transition.id
        row.since = at
        row.reason = change.reason
        log.info("%s: %s -> %s (%s)", row.system_id, change.from_state, change.to_state, change.reason)

    # -- housekeeping ---------------------------------------------------------------------

    def prune(self, session: Session, now: datetime) -> int:
        """Forget observations and state changes older than ``monitor_history_days``.

        A state change still referred to (the current state's, or an alert's: alerts are
        pruned by the alerts module) is kept until nothing refers to it.
        """
        cutoff = now - timedelta(days=self.settings.monitor_history_days)
        checks = session.execute(delete(HealthCheck).where(HealthCheck.checked_at < cutoff)
                                 .execution_options(synchronize_session=False)).rowcount
        in_use = select(SystemHealth.transition_id).where(SystemHealth.transition_id.is_not(None))
        alerted = select(Alert.transition_id)
        changes = session.execute(
            delete(StateTransition)
            .where(StateTransition.at < cutoff, StateTransition.id.not_in(in_use), StateTransition.id.not_in(alerted))
            .execution_options(synchronize_session=False)).rowcount
        return (checks or 0) + (changes or 0)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def lookup_observations(events: Iterable[Any]) -> list[tuple[str, Observation]]:
    """(system id, observation) for every system a recorded lookup asked.

    Systems a breaker or bulkhead refused (``not_attempted``) were not asked: no news of
    them. Older events without that list count every result.
    """
    seen = []
    for event in events:
        details = event.details if isinstance(event.details, dict) else {}
        statuses = details.get("systems")
        if not isinstance(statuses, dict):
            continue  # e.g. a denied lookup: no system was asked
        latency = details.get("latency_ms") if isinstance(details.get("latency_ms"), dict) else {}
        skipped = set(details.get("not_attempted") or ())
        at = event.occurred_at
        for system_id, status in statuses.items():
            if system_id in skipped or not isinstance(status, str):
                continue
            ms = latency.get(system_id)
            ok = status in ANSWERED
            seen.append((system_id, Observation(
                at=at, source="lookup", ok=ok, status=status[:16],
                latency_ms=ms if isinstance(ms, int) else None,
                error=None if ok else LOOKUP_ERRORS.get(status, f"{status} in an agent's lookup"))))
    return seen


def _note(row: SystemHealth, observation: Observation) -> None:
    if row.last_check_at is None or row.last_check_at <= observation.at:
        row.last_check_at = observation.at
        row.last_latency_ms = observation.latency_ms
    if not observation.ok:
        row.last_error = observation.error  # kept after recovery: "the last error", shown with its time


def _check_row(system_id: str, observation: Observation) -> dict[str, Any]:
    return {"system_id": system_id, "checked_at": observation.at, "source": observation.source,
            "ok": observation.ok, "status": observation.status, "latency_ms": observation.latency_ms,
            "error": observation.error}


def _later(now: datetime, previous: datetime) -> datetime:
    """A stamp after ``previous``, even if this host's clock is behind the last monitor's."""
    return now if now > previous else previous + timedelta(microseconds=1)
