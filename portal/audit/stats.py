"""Counting the log: operations by operator, action, system, day and hour; failed logins; lookup
outcomes and latency per system; and operators who stand far out from their peers.

Outliers use a robust z-score (median and median absolute deviation) per measure, so one busy
operator cannot hide by raising the average: ``score = (x - median) / (1.4826 * MAD)``, with the
spread floored so a quiet, uniform team does not flag tiny differences.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, cast, distinct, func, literal_column, select
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.models import AuditEvent, AuditEventSystem
from portal.audit.query import InvalidFilter, format_time, parse_time

DEFAULT_DAYS = 30
BY = ("actor", "action", "system", "day", "hour", "outcome")
WATCHED = ("customer.lookup", "customer.reveal", "system.open")
OFF_HOURS = (7, 20)  # UTC hours [from, to) counted as working hours
THRESHOLD = 3.5


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Window:
        until = parse_time("until", args["until"]) if args.get("until") else clock.utcnow() + timedelta(seconds=1)
        since = parse_time("since", args["since"]) if args.get("since") else until - timedelta(days=DEFAULT_DAYS)
        if since >= until:
            raise InvalidFilter("since must be before until")
        return cls(since, until)

    def where(self):
        return and_(AuditEvent.occurred_at >= self.since, AuditEvent.occurred_at < self.until)

    def as_dict(self) -> dict[str, str]:
        return {"since": format_time(self.since), "until": format_time(self.until)}


def _day(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), AuditEvent.occurred_at), literal_column("'YYYY-MM-DD'"))
    return func.strftime("%Y-%m-%d", AuditEvent.occurred_at)


def _hour(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("hour", func.timezone(literal_column("'UTC'"), AuditEvent.occurred_at)), Integer)
    return cast(func.strftime("%H", AuditEvent.occurred_at), Integer)


def operations(session: Session, window: Window, by: str) -> list[dict[str, Any]]:
    """``[{"key", "count"}]``, largest first (days and hours in order)."""
    if by not in BY:
        raise InvalidFilter(f"by: one of {', '.join(BY)}")
    if by == "system":
        key = AuditEventSystem.system
        query = select(key, func.count()).select_from(AuditEvent).join(AuditEventSystem, AuditEventSystem.seq == AuditEvent.seq)
    else:
        key = {"actor": AuditEvent.actor, "action": AuditEvent.action, "outcome": AuditEvent.outcome,
               "day": _day(session), "hour": _hour(session)}[by]
        query = select(key, func.count())
    query = query.where(window.where()).group_by(key)
    rows = [{"key": k, "count": n} for k, n in session.execute(query)]
    if by in ("day", "hour"):
        rows.sort(key=lambda r: r["key"])
        if by == "hour":
            counts = {int(r["key"]): r["count"] for r in rows}
            rows = [{"key": h, "count": counts.get(h, 0)} for h in range(24)]
    else:
        rows.sort(key=lambda r: (-r["count"], str(r["key"])))
    return rows


def logins(session: Session, window: Window) -> dict[str, Any]:
    failed = AuditEvent.action == "auth.login_failed"
    by_day = session.execute(select(_day(session), func.count()).where(window.where(), failed)
                             .group_by(_day(session)).order_by(_day(session))).all()
    by_target = session.execute(select(AuditEvent.target, func.count()).where(window.where(), failed)
                                .group_by(AuditEvent.target).order_by(func.count().desc()).limit(20)).all()
    by_addr = session.execute(select(AuditEvent.client_addr, func.count()).where(window.where(), failed)
                              .group_by(AuditEvent.client_addr).order_by(func.count().desc()).limit(20)).all()
    succeeded = session.scalar(select(func.count()).where(window.where(), AuditEvent.action == "auth.login")) or 0
    return {"succeeded": succeeded, "failed": sum(n for _, n in by_day),
            "failed_by_day": [{"key": k, "count": n} for k, n in by_day],
            "failed_by_username": [{"key": k or "-", "count": n} for k, n in by_target],
            "failed_by_address": [{"key": k or "-", "count": n} for k, n in by_addr]}


def lookups_by_system(session: Session, window: Window) -> list[dict[str, Any]]:
    """Per system: lookups, counts per status, mean and max latency (when recorded)."""
    query = (select(AuditEventSystem.system, AuditEventSystem.status, func.count(),
                    func.avg(AuditEventSystem.elapsed_ms), func.max(AuditEventSystem.elapsed_ms))
             .select_from(AuditEventSystem).join(AuditEvent, AuditEvent.seq == AuditEventSystem.seq)
             .where(window.where(), AuditEvent.action == "customer.lookup")
             .group_by(AuditEventSystem.system, AuditEventSystem.status))
    systems: dict[str, dict[str, Any]] = {}
    for system, status, n, mean, peak in session.execute(query):
        entry = systems.setdefault(system, {"system": system, "lookups": 0, "statuses": {}, "_sum": 0.0, "_n": 0,
                                            "max_ms": None})
        entry["lookups"] += n
        entry["statuses"][status or "unknown"] = n
        if mean is not None:
            entry["_sum"] += float(mean) * n
            entry["_n"] += n
            entry["max_ms"] = max(entry["max_ms"] or 0, int(peak))
    out = []
    for entry in sorted(systems.values(), key=lambda e: e["system"]):
        total, measured = entry.pop("_sum"), entry.pop("_n")
        entry["mean_ms"] = round(total / measured, 1) if measured else None
        entry["ok_ratio"] = round(entry["statuses"].get("ok", 0) / entry["lookups"], 3) if entry["lookups"] else None
        out.append(entry)
    return out


def outliers(session: Session, window: Window) -> list[dict[str, Any]]:
    """Operators whose lookups, reveals or openings stand far out from their peers'."""
    hour = _hour(session)
    off = case((hour < OFF_HOURS[0], 1), (hour >= OFF_HOURS[1], 1), else_=0)
    rows = session.execute(
        select(AuditEvent.actor,
               func.count(),
               func.sum(case((AuditEvent.action == "customer.reveal", 1), else_=0)),
               func.count(distinct(AuditEvent.customer)),
               func.sum(off),
               func.sum(case((AuditEvent.outcome == "denied", 1), else_=0)))
        .where(window.where(), AuditEvent.action.in_(WATCHED))
        .group_by(AuditEvent.actor)).all()
    people = [{"actor": a, "operations": n, "reveals": int(r or 0), "customers": c, "off_hours": int(o or 0),
               "out_of_scope": int(d or 0)} for a, n, r, c, o, d in rows]
    measures = ("operations", "reveals", "customers", "off_hours", "out_of_scope")
    flagged = []
    for person in people:
        reasons = []
        for measure in measures:
            peers = [p[measure] for p in people if p is not person]
            score = robust_score(person[measure], peers)
            if score is not None and score > THRESHOLD:
                reasons.append({"measure": measure, "value": person[measure],
                                "peer_median": statistics.median(peers), "score": round(score, 1)})
        if reasons:
            flagged.append({**person, "reasons": reasons})
    flagged.sort(key=lambda p: -max(r["score"] for r in p["reasons"]))
    return flagged


def robust_score(value: float, peers: list[float]) -> float | None:
    """How many robust standard deviations ``value`` lies above its peers (None: too few peers)."""
    if len(peers) < 3:
        return None
    median = statistics.median(peers)
    mad = statistics.median(abs(p - median) for p in peers)
    spread = max(1.4826 * mad, 0.25 * median, 2.0)
    return (value - median) / spread


def overview(session: Session, window: Window) -> dict[str, Any]:
    return {
        "window": window.as_dict(),
        "total": session.scalar(select(func.count()).where(window.where())) or 0,
        "by_actor": operations(session, window, "actor")[:20],
        "by_action": operations(session, window, "action")[:20],
        "by_system": operations(session, window, "system")[:20],
        "by_day": operations(session, window, "day"),
        "by_hour": operations(session, window, "hour"),
        "logins": logins(session, window),
        "lookups": lookups_by_system(session, window),
        "outliers": outliers(session, window),
    }
