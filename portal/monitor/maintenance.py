"""Maintenance windows: planned outages during which a system's alerts are silenced.

The pages, the JSON API and ``portal monitor maintenance`` all go through these
functions; they authorise, validate and audit, so no caller can skip a step; the caller commits.

Public API (``systems`` is ``id -> SystemInfo``, e.g. :func:`portal.monitor.systems.systems_of`)::

    create(session, operator, actor, systems, *, system_id, starts_at=None, ends_at, reason, now=None)
        -> MaintenanceWindow        # starts_at None: now. Audited as monitor.maintenance_create.
    cancel(session, operator, actor, systems, window_id, *, now=None)
        -> MaintenanceWindow        # ends a current or upcoming window now. monitor.maintenance_cancel.
    list_windows(session, *, system_id=None, include_past=False, now=None) -> list[MaintenanceWindow]
        # current and upcoming, soonest first; include_past adds ended and cancelled ones (newest first).
    silenced(session, system_id, now) -> MaintenanceWindow | None   # the window silencing it now
    may_manage(operator, systems, system_id) -> bool                # for showing buttons
    window_status(window, now) -> "current" | "upcoming" | "ended" | "cancelled"
    window_document(window, now=None) -> dict                       # JSON-able, for the API
    parse_time(value, key) -> datetime                              # ISO 8601 text -> aware UTC

Who may do what: ``monitor.manage`` for any system and for ``*`` (every system);
``adapters.own`` for the systems their teams (or they themselves) own. Errors:
:class:`InvalidDocument` (key, reason) for bad input, :class:`PermissionDenied`,
:class:`ResourceNotFound` for an unknown window, :class:`Conflict` for cancelling
a window that is over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.service import Operator
from portal.audit.record import Actor, Event, record
from portal.clock import as_utc
from portal.errors import Conflict, InvalidDocument, PermissionDenied, ResourceNotFound
from portal.monitor.models import MaintenanceWindow
from portal.monitor.systems import SystemInfo
from portal.rbac.policy import permits

ALL_SYSTEMS = "*"
MANAGE_ALL, MANAGE_OWN = "monitor.manage", "adapters.own"
#: A silence longer than a week is a forgotten silence: a real outage would go unannounced.
MAX_LENGTH = timedelta(days=7)
#: Forms take a moment to submit; a start this far in the past still counts as "now".
PAST_TOLERANCE = timedelta(minutes=1)
REASON_MAX = 300


def parse_time(value: Any, key: str) -> datetime:
    """An ISO 8601 moment (a naive one is UTC) as aware UTC; ``key`` names it in the error."""
    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidDocument(key, "must be an ISO 8601 date and time, e.g. 2026-11-24T22:00Z")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise InvalidDocument(key, f"{value!r} is not an ISO 8601 date and time, e.g. 2026-11-24T22:00Z") from None
    except OverflowError:  # 0001-01-01T00:00+01:00 lies before the year 1 in UTC (was a 500)
        raise InvalidDocument(key, f"{value!r} is out of range") from None


def may_manage(operator: Operator, systems: Mapping[str, SystemInfo], system_id: str) -> bool:
    """Whether ``operator`` may open or cancel windows for ``system_id`` (``*``: every system)."""
    if permits(operator.permissions, MANAGE_ALL):
        return True
    if system_id == ALL_SYSTEMS or not permits(operator.permissions, MANAGE_OWN):
        return False
    info = systems.get(system_id)
    owner = info.owner if info else None
    return owner is not None and (owner in operator.teams or owner == operator.username)


def create(session: Session, operator: Operator, actor: Actor, systems: Mapping[str, SystemInfo], *,
           system_id: str, starts_at: datetime | str | None = None, ends_at: datetime | str,
           reason: str, now: datetime | None = None) -> MaintenanceWindow:
    """Open a window silencing ``system_id`` from ``starts_at`` (default now) to ``ends_at`` (the caller commits)."""
    now = as_utc(now or clock.utcnow())
    require_some_right(operator)
    if not isinstance(system_id, str) or (system_id != ALL_SYSTEMS and system_id not in systems):
        raise InvalidDocument("system_id", f"no system {system_id!r}; use a system id or '*' for every system")
    if not may_manage(operator, systems, system_id):
        raise PermissionDenied(_denied(operator, system_id))
    start = now if starts_at is None or starts_at == "" else parse_time(starts_at, "starts_at")
    end = parse_time(ends_at, "ends_at")
    if start < now - PAST_TOLERANCE:
        raise InvalidDocument("starts_at", "must be now or later, not in the past")
    if end <= start:
        raise InvalidDocument("ends_at", "must be after starts_at")
    if end - start > MAX_LENGTH:
        raise InvalidDocument("ends_at", f"a window may last at most {MAX_LENGTH.days} days")
    text = reason.strip() if isinstance(reason, str) else ""
    if not 1 <= len(text) <= REASON_MAX:
        raise InvalidDocument("reason", f"say why, in 1 to {REASON_MAX} characters")
    window = MaintenanceWindow(system_id=system_id, starts_at=start, ends_at=end, reason=text,
                               created_by=operator.username, created_at=now)
    session.add(window)
    session.flush()
    record(session, actor, Event(action="monitor.maintenance_create", target=system_id,
                                 details={"before": None, "after": window_document(window, now)}))
    session.flush()
    return window


def cancel(session: Session, operator: Operator, actor: Actor, systems: Mapping[str, SystemInfo],
           window_id: int, *, now: datetime | None = None) -> MaintenanceWindow:
    """End a current window now or drop an upcoming one (the caller commits). Alerts flow again at the next tick."""
    now = as_utc(now or clock.utcnow())
    require_some_right(operator)
    window = session.get(MaintenanceWindow, window_id)
    if window is None:
        raise ResourceNotFound(f"no maintenance window {window_id}")
    if not may_manage(operator, systems, window.system_id):
        raise PermissionDenied(_denied(operator, window.system_id))
    status = window_status(window, now)
    if status in ("ended", "cancelled"):
        raise Conflict(f"maintenance window {window_id} is {status} already")
    before = window_document(window, now)
    window.cancelled_at, window.cancelled_by = now, operator.username
    session.flush()
    record(session, actor, Event(action="monitor.maintenance_cancel", target=window.system_id,
                                 details={"before": before, "after": window_document(window, now)}))
    session.flush()
    return window


def list_windows(session: Session, *, system_id: str | None = None, include_past: bool = False,
                 now: datetime | None = None) -> list[MaintenanceWindow]:
    """Current and upcoming windows (soonest first), then, with ``include_past``, the rest (newest first).

    ``system_id`` narrows to windows that concern that system, including ``*`` windows.
    """
    now = as_utc(now or clock.utcnow())
    query = select(MaintenanceWindow)
    if system_id is not None:
        query = query.where(MaintenanceWindow.system_id.in_((system_id, ALL_SYSTEMS)))
    windows = list(session.scalars(query.order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)))
    live = [w for w in windows if window_status(w, now) in ("current", "upcoming")]
    if not include_past:
        return live
    over = sorted((w for w in windows if w not in live), key=lambda w: (w.starts_at, w.id), reverse=True)
    return live + over


def silenced(session: Session, system_id: str, now: datetime) -> MaintenanceWindow | None:
    """The window (for this system or ``*``) in force at ``now``, the one ending last; None if none."""
    now = as_utc(now)
    return session.scalars(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.system_id.in_((system_id, ALL_SYSTEMS)),
               MaintenanceWindow.cancelled_at.is_(None),
               MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)
        .order_by(MaintenanceWindow.ends_at.desc())
    ).first()


def silenced_systems(session: Session, now: datetime) -> dict[str, MaintenanceWindow]:
    """system id (or ``*``) -> the window in force at ``now``; one query for a whole tick."""
    now = as_utc(now)
    found: dict[str, MaintenanceWindow] = {}
    for window in session.scalars(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.cancelled_at.is_(None),
               MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)
        .order_by(MaintenanceWindow.ends_at)
    ):
        found[window.system_id] = window  # the one ending last wins
    return found


def window_status(window: MaintenanceWindow, now: datetime) -> str:
    now = as_utc(now)
    if window.cancelled_at is not None:
        return "cancelled"
    if window.ends_at <= now:
        return "ended"
    return "current" if window.starts_at <= now else "upcoming"


def window_document(window: MaintenanceWindow, now: datetime | None = None) -> dict[str, Any]:
    """The window as JSON-able data (times in ISO 8601 UTC), with its status at ``now``."""
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat().replace("+00:00", "Z") if moment is not None else None

    return {
        "id": window.id,
        "system_id": window.system_id,
        "starts_at": iso(window.starts_at),
        "ends_at": iso(window.ends_at),
        "reason": window.reason,
        "created_by": window.created_by,
        "created_at": iso(window.created_at),
        "cancelled_at": iso(window.cancelled_at),
        "cancelled_by": window.cancelled_by,
        "status": window_status(window, now or clock.utcnow()),
    }


def require_some_right(operator: Operator) -> None:
    """Refuse (403) an operator who may manage no window at all; callers check it before reading a body."""
    if not (permits(operator.permissions, MANAGE_ALL) or permits(operator.permissions, MANAGE_OWN)):
        raise PermissionDenied("maintenance windows need monitor.manage, or adapters.own for your own systems")


def _denied(operator: Operator, system_id: str) -> str:
    if system_id == ALL_SYSTEMS:
        return "a window for every system ('*') needs monitor.manage"
    teams = ", ".join(operator.teams) or "none"
    return f"you may only manage windows of systems your teams own ({teams}), not {system_id!r}"
