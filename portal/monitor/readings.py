"""Reading what the monitor recorded, for ``/monitor``, the API, ``/metrics`` and the CLI.

Read-only helpers over ``monitor_systems``, ``monitor_checks`` and ``monitor_transitions``;
any portal instance may call them (the monitor process writes, everyone reads). Windows are
``since`` (inclusive) to now; times are UTC and come back timezone-aware.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.monitor.models import HealthCheck, StateTransition, SystemHealth


@dataclass(frozen=True)
class SystemStats:
    """One system's observations in a window: how many, how many failed, and how fast the answers were."""

    system_id: str
    checks: int
    failures: int
    p50_ms: int | None  # over observations with a latency (failures included: a timeout is slow too)
    p95_ms: int | None
    p99_ms: int | None

    @property
    def error_rate(self) -> float:
        """Failed observations / all observations (0.0 when there were none)."""
        return self.failures / self.checks if self.checks else 0.0


def percentile(sorted_values: Sequence[int], fraction: float) -> int | None:
    """Nearest-rank percentile of already sorted values (``None`` for none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def system_stats(session: Session, since: datetime, system_ids: Iterable[str] | None = None) -> dict[str, SystemStats]:
    """system id -> :class:`SystemStats` over observations at or after ``since`` (systems seen only)."""
    query = select(HealthCheck.system_id, HealthCheck.ok, HealthCheck.latency_ms).where(HealthCheck.checked_at >= since)
    if system_ids is not None:
        query = query.where(HealthCheck.system_id.in_(list(system_ids)))
    latencies: dict[str, list[int]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for system_id, ok, latency_ms in session.execute(query):
        counts[system_id][0] += 1
        counts[system_id][1] += 0 if ok else 1
        if latency_ms is not None:
            latencies[system_id].append(latency_ms)
    stats = {}
    for system_id, (checks, failures) in counts.items():
        values = sorted(latencies[system_id])
        stats[system_id] = SystemStats(system_id, checks, failures, percentile(values, 0.50),
                                       percentile(values, 0.95), percentile(values, 0.99))
    return stats


def current_states(session: Session) -> list[SystemHealth]:
    """Every monitored system's row, ordered by id, detached from the session (read-only copies)."""
    rows = list(session.scalars(select(SystemHealth).order_by(SystemHealth.system_id)))
    for row in rows:
        session.expunge(row)  # copies for the caller; nothing is written back
    return rows


def recent_errors(session: Session, system_id: str | None = None, *, since: datetime | None = None,
                  limit: int = 20) -> list[HealthCheck]:
    """The newest failed observations (of one system, or all), newest first."""
    query = select(HealthCheck).where(HealthCheck.ok.is_(False))
    if system_id is not None:
        query = query.where(HealthCheck.system_id == system_id)
    if since is not None:
        query = query.where(HealthCheck.checked_at >= since)
    rows = list(session.scalars(query.order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc()).limit(limit)))
    for row in rows:
        session.expunge(row)
    return rows


def state_history(session: Session, system_id: str | None = None, *, since: datetime | None = None,
                  limit: int = 50) -> list[StateTransition]:
    """State changes (of one system, or all), newest first."""
    query = select(StateTransition)
    if system_id is not None:
        query = query.where(StateTransition.system_id == system_id)
    if since is not None:
        query = query.where(StateTransition.at >= since)
    rows = list(session.scalars(query.order_by(StateTransition.at.desc(), StateTransition.id.desc()).limit(limit)))
    for row in rows:
        session.expunge(row)
    return rows
