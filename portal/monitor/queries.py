"""What the monitor pages, the API and ``/metrics`` read: states, percentiles, history, maintenance.

Engine code: a session and adapters in, plain dataclasses out; no Flask. The monitor process writes
the tables (:mod:`portal.monitor.models`); every portal instance reads them here. The circuit
breaker shown beside each system is *this* instance's (breakers are per process).

Latency percentiles are nearest-rank (``percentile_disc``, :func:`portal.monitor.readings.percentile`):
a value that was really observed, failures included (a timeout is slow too). On PostgreSQL the database
computes them, so a busy hour is not shipped to Python; SQLite has no ordered-set aggregates, so there
the hour's latencies are read (one indexed range scan) and ranked here. Errors and state history come
from :mod:`portal.monitor.readings`, the monitor's own read helpers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.adapters.base import Adapter
from portal.adapters.resilience import guard_for
from portal.monitor import maintenance, readings
from portal.monitor.models import (
    DEGRADED,
    DOWN,
    UNKNOWN,
    UP,
    Alert,
    HealthCheck,
    MaintenanceWindow,
    MonitorLease,
    SystemHealth,
)
from portal.monitor.readings import percentile

WINDOW = timedelta(hours=1)
#: Most serious first: what a tired admin must see at the top of the page.
SEVERITY = {DOWN: 0, DEGRADED: 1, UNKNOWN: 2, UP: 3}
PERCENTILES = (0.5, 0.95, 0.99)
ALL_SYSTEMS = maintenance.ALL_SYSTEMS


@dataclass(frozen=True)
class HourStats:
    """The last hour of one system's observations (probes and real lookups)."""

    checks: int = 0
    errors: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None
    p99_ms: int | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.checks if self.checks else None

    def to_dict(self) -> dict[str, Any]:
        return {"checks": self.checks, "errors": self.errors, "error_rate": self.error_rate,
                "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms}


@dataclass(frozen=True)
class Window:
    """A maintenance window as pages and the API show it (the maintenance service's document)."""

    id: int
    system_id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    status: str  # current | upcoming | ended | cancelled
    document: dict[str, Any]

    @classmethod
    def of(cls, row: MaintenanceWindow, at: datetime) -> Window:
        return cls(row.id, row.system_id, row.starts_at, row.ends_at, row.reason,
                   row.created_by, maintenance.window_status(row, at), maintenance.window_document(row, at))

    @property
    def live(self) -> bool:
        return self.status in ("current", "upcoming")

    def to_dict(self) -> dict[str, Any]:
        return self.document


@dataclass(frozen=True)
class SystemStatus:
    """One row of the monitor page: the monitor's verdict, this instance's breaker, the last hour."""

    id: str
    name: str
    owner: str | None
    state: str
    since: datetime | None
    reason: str | None
    last_check_at: datetime | None
    last_latency_ms: int | None
    last_error: str | None
    next_probe_at: datetime | None
    breaker: dict[str, Any]
    hour: HourStats
    maintenance: Window | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "owner": self.owner, "state": self.state,
            "since": iso(self.since), "reason": self.reason, "last_check_at": iso(self.last_check_at),
            "last_latency_ms": self.last_latency_ms, "last_error": self.last_error,
            "next_probe_at": iso(self.next_probe_at), "breaker": self.breaker, "last_hour": self.hour.to_dict(),
            "maintenance": self.maintenance.to_dict() if self.maintenance else None,
        }


@dataclass(frozen=True)
class Observation:
    checked_at: datetime
    source: str
    ok: bool
    status: str
    latency_ms: int | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"checked_at": iso(self.checked_at), "source": self.source, "ok": self.ok, "status": self.status,
                "latency_ms": self.latency_ms, "error": self.error}


@dataclass(frozen=True)
class SystemDetail:
    status: SystemStatus
    observations: list[Observation]
    errors: list[Observation]
    transitions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    windows: list[Window]
    per_minute: list[dict[str, Any]] = field(default_factory=list)  # {"key": "HH:MM", "count": slowest ms}

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.status.to_dict(), "observations": [o.to_dict() for o in self.observations],
                "recent_errors": [o.to_dict() for o in self.errors], "transitions": self.transitions,
                "alerts": self.alerts, "maintenance": [w.to_dict() for w in self.windows]}


@dataclass(frozen=True)
class LeaseInfo:
    """Who runs the monitor process, as its lease says."""

    holder: str | None = None
    renewed_at: datetime | None = None
    expires_at: datetime | None = None
    running: bool = False
    error: str | None = None  # the lease could not be read: whether the monitor runs is unknown

    def to_dict(self, at: datetime) -> dict[str, Any]:
        age = (at - self.renewed_at).total_seconds() if self.renewed_at else None
        return {"running": self.running, "holder": self.holder, "renewed_at": iso(self.renewed_at),
                "expires_at": iso(self.expires_at), "renewed_s_ago": None if age is None else round(age, 1),
                "error": self.error}


# -- reads ------------------------------------------------------------------------------------------

def health_rows(session: Session, ids: Iterable[str]) -> dict[str, SystemHealth]:
    ids = list(ids)
    if not ids:
        return {}
    return {row.system_id: row for row in session.scalars(select(SystemHealth).where(SystemHealth.system_id.in_(ids)))}


def monitor_lease(session: Session, at: datetime | None = None) -> LeaseInfo:
    """The freshest lease; ``running`` only while it has not expired."""
    at = at or clock.utcnow()
    row = session.scalars(select(MonitorLease).order_by(MonitorLease.expires_at.desc()).limit(1)).first()
    if row is None:
        return LeaseInfo()
    return LeaseInfo(row.holder, row.renewed_at, row.expires_at, bool(row.expires_at and row.expires_at > at))


def hour_stats(session: Session, ids: Sequence[str], at: datetime | None = None) -> dict[str, HourStats]:
    """Observations, errors and latency percentiles per system over the hour before ``at``."""
    if not ids:
        return {}
    at = at or clock.utcnow()
    recent = (HealthCheck.checked_at >= at - WINDOW, HealthCheck.checked_at <= at, HealthCheck.system_id.in_(ids))
    counts = {system: (checks, errors or 0) for system, checks, errors in session.execute(
        select(HealthCheck.system_id, func.count(), func.sum(case((HealthCheck.ok.is_(False), 1), else_=0)))
        .where(*recent).group_by(HealthCheck.system_id))}
    ranks = _percentiles(session, recent)
    return {system: HourStats(checks, errors, *ranks.get(system, (None, None, None)))
            for system, (checks, errors) in counts.items()}


def _percentiles(session: Session, recent: tuple) -> dict[str, tuple[int | None, ...]]:
    timed = (*recent, HealthCheck.latency_ms.is_not(None))
    if session.get_bind().dialect.name == "postgresql":
        columns = [func.percentile_disc(p).within_group(HealthCheck.latency_ms) for p in PERCENTILES]
        return {row[0]: tuple(None if v is None else int(v) for v in row[1:]) for row in session.execute(
            select(HealthCheck.system_id, *columns).where(*timed).group_by(HealthCheck.system_id))}
    latencies: dict[str, list[int]] = {}
    for system, ms in session.execute(select(HealthCheck.system_id, HealthCheck.latency_ms).where(*timed)):
        latencies.setdefault(system, []).append(ms)
    return {system: tuple(percentile(sorted(values), p) for p in PERCENTILES) for system, values in latencies.items()}


def maintenance_windows(session: Session, system_id: str | None = None, at: datetime | None = None,
                        limit: int = 50) -> list[Window]:
    """Current and upcoming windows (of one system and ``*``, or all), then past ones, newest first."""
    at = at or clock.utcnow()
    rows = maintenance.list_windows(session, system_id=system_id, include_past=True, now=at)
    return [Window.of(row, at) for row in rows[:limit]]


def active_windows(session: Session, at: datetime | None = None) -> dict[str, Window]:
    """system id (or ``*``) -> the window silencing it now."""
    at = at or clock.utcnow()
    return {system: Window.of(row, at) for system, row in maintenance.silenced_systems(session, at).items()}


# -- assembled views ----------------------------------------------------------------------------------

def overview(session: Session, adapters: Sequence[Adapter], at: datetime | None = None) -> list[SystemStatus]:
    """Every system in force, most serious first (down, degraded, unknown, up), then by name."""
    at = at or clock.utcnow()
    adapters = [a for a in adapters if a.config.enabled]
    ids = [a.id for a in adapters]
    health = health_rows(session, ids)
    stats = hour_stats(session, ids, at)
    windows = active_windows(session, at)
    rows = [_status(a, health.get(a.id), stats.get(a.id, HourStats()), windows.get(a.id) or windows.get(ALL_SYSTEMS))
            for a in adapters]
    return sorted(rows, key=lambda s: (SEVERITY.get(s.state, 2), s.name.lower()))


def system_detail(session: Session, adapter: Adapter, at: datetime | None = None, limit: int = 50) -> SystemDetail:
    """One system's page: recent observations and errors, state history, alerts, maintenance, latency."""
    at = at or clock.utcnow()
    system_id = adapter.id
    windows = maintenance_windows(session, system_id, at)
    active = next((w for w in windows if w.status == "current"), None)
    status = _status(adapter, session.get(SystemHealth, system_id), hour_stats(session, [system_id], at).get(
        system_id, HourStats()), active)
    checks = select(HealthCheck).where(HealthCheck.system_id == system_id)
    observations = [_observation(r) for r in session.scalars(
        checks.order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc()).limit(limit))]
    errors = [_observation(r) for r in readings.recent_errors(session, system_id, limit=limit)]
    transitions = [{"at": iso(t.at), "from": t.from_state, "to": t.to_state, "reason": t.reason}
                   for t in readings.state_history(session, system_id, limit=limit)]
    alerts = [{"created_at": iso(a.created_at), "kind": a.kind, "channel": a.channel,
               "recipient": a.recipient, "status": a.status, "attempts": a.attempts,
               "sent_at": iso(a.sent_at), "error": a.error}
              for a in session.scalars(select(Alert).where(Alert.system_id == system_id)
                                       .order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit))]
    return SystemDetail(status, observations, errors, transitions, alerts, windows, _per_minute(session, system_id, at))


def _per_minute(session: Session, system_id: str, at: datetime) -> list[dict[str, Any]]:
    """The slowest answer of each minute of the last hour (0 where nothing was observed)."""
    start = (at - WINDOW).replace(second=0, microsecond=0)
    slowest: dict[str, int] = {}
    for checked_at, ms in session.execute(select(HealthCheck.checked_at, HealthCheck.latency_ms).where(
            HealthCheck.system_id == system_id, HealthCheck.checked_at >= start, HealthCheck.checked_at <= at,
            HealthCheck.latency_ms.is_not(None))):
        key = checked_at.strftime("%H:%M")
        slowest[key] = max(slowest.get(key, 0), ms)
    minutes = int(WINDOW.total_seconds() // 60) + 1
    keys = [(start + timedelta(minutes=i)).strftime("%H:%M") for i in range(minutes)]
    return [{"key": k, "count": slowest.get(k, 0)} for k in keys] if slowest else []


def _status(adapter: Adapter, row: SystemHealth | None, hour: HourStats, window: Window | None) -> SystemStatus:
    breaker = guard_for(adapter).health()
    return SystemStatus(
        id=adapter.id, name=adapter.config.name, owner=adapter.config.owner,
        state=row.state if row else UNKNOWN, since=row.since if row else None,
        reason=row.reason if row else "not checked yet",
        last_check_at=row.last_check_at if row else None,
        last_latency_ms=row.last_latency_ms if row else None, last_error=row.last_error if row else None,
        next_probe_at=row.next_probe_at if row else None,
        breaker={"state": str(breaker.get("state", "closed")), "failures": breaker.get("failures"),
                 "retry_in_s": breaker.get("retry_in_s"), "in_flight": breaker.get("in_flight"),
                 "max_concurrency": breaker.get("max_concurrency")},
        hour=hour, maintenance=window)


def _observation(row: HealthCheck) -> Observation:
    return Observation(row.checked_at, row.source, bool(row.ok), row.status, row.latency_ms, row.error)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
