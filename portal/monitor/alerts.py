"""Alerts: tell admins and a system's owners, by e-mail and SMS, when it goes down and when it recovers.

The monitor runner calls :meth:`AlertDispatcher.dispatch` once per tick. It commits its own
short transactions (call it with no transaction of yours in progress) and never sends while
holding a database lock. What it does:

1. **Plan.** A system is announced when its state is ``down`` or ``up`` and differs from
   ``alerted_state`` (the last state people were told; ``up`` at first, so a system that was
   never down never "recovers"; ``degraded`` and ``unknown`` are never announced).
   * In a maintenance window: one ``silenced`` row per recipient and channel, audited once,
     and ``alerted_state`` stays as it was. A system still down when the window ends is
     announced then (the rows turn ``pending``); one that went down and recovered inside it
     never is; a recovery inside it of a system announced down is announced when it ends.
   * Otherwise ``alerted_state`` moves on (compare-and-set: of two dispatchers only one wins
     and plans) and each recipient gets a ``pending`` row, or ``rate_limited`` when they had
     ``alerts_max_per_hour`` messages about this system on this channel in the last hour.
   * No channel configured, or nobody to tell on a channel: audited once per transition.
2. **Deliver.** A row is *claimed* before it is sent (compare-and-set on status and attempts),
   so only the claimer sends. A failed row is retried on later ticks, at most
   :data:`MAX_ATTEMPTS` attempts in all, then ``abandoned``; rows about a state the system has
   already left are abandoned as superseded. When a server cannot be reached at all, the rest
   of the round fails with the same reason instead of waiting once per recipient.

Rows are unique per (transition, channel, recipient) and inserted with ``ON CONFLICT DO
NOTHING``: even two monitors that both believed they held the lease send each message once.
Every outcome is audited as ``monitor.alert`` (actor ``monitor``), one event per transition
and channel per round: outcome ``sent``, ``failed``, ``partial``, ``silenced``,
``rate_limited``, ``abandoned`` or ``failure`` (nothing could be sent).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit.record import Actor, Event, record
from portal.clock import as_utc
from portal.config import Settings, fill_template
from portal.monitor.channels import Channel, DeliveryError, default_channels
from portal.monitor.maintenance import ALL_SYSTEMS, silenced_systems
from portal.monitor.models import (
    ABANDONED,
    ALERT_DOWN,
    ALERT_RECOVERED,
    DOWN,
    FAILED,
    PENDING,
    RATE_LIMITED,
    SENT,
    SILENCED,
    UP,
    Alert,
    MaintenanceWindow,
    StateTransition,
    SystemHealth,
)
from portal.monitor.recipients import recipients
from portal.monitor.systems import SystemInfo

log = logging.getLogger(__name__)

MONITOR = Actor("monitor")
MAX_ATTEMPTS = 3
#: A claimed row still ``pending`` this long after its claim belonged to a monitor that died mid-send.
IN_FLIGHT_STALE = timedelta(minutes=10)
#: Statuses that count against the hourly limit: messages sent or being sent.
COUNTED = (PENDING, SENT, FAILED, ABANDONED)


@dataclass(frozen=True)
class Message:
    kind: str      # down | recovered
    state: str     # the state announced
    subject: str
    text: str


class AlertDispatcher:
    """Plans, claims, sends and records alerts; one per monitor process."""

    def __init__(self, settings: Settings, channels: Iterable[Channel] | None = None) -> None:
        self.settings = settings
        self.channels = {c.name: c for c in (default_channels(settings) if channels is None else channels)}

    @property
    def configured(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.configured]

    def dispatch(self, session: Session, systems: Mapping[str, SystemInfo], now: datetime) -> None:
        """Announce new states of ``systems`` and deliver what is due; one call per monitor tick."""
        now = as_utc(now)
        failure: Exception | None = None
        for step in (self._plan, self._deliver):  # delivery of earlier alerts goes on if planning fails
            try:
                step(session, systems, now)
            except Exception as exc:
                session.rollback()
                failure = failure or exc
        if failure is not None:
            raise failure  # the runner logs it; one system's trouble is only logged (below) and never raised

    # --- planning -------------------------------------------------------------------------

    def _plan(self, session: Session, systems: Mapping[str, SystemInfo], now: datetime) -> None:
        windows = silenced_systems(session, now)
        fresh = {"populate_existing": True}  # a session kept across ticks must not answer from its identity map
        due = [h for h in session.scalars(select(SystemHealth).where(SystemHealth.system_id.in_(list(systems)))
                                          .execution_options(**fresh))
               if h.state in (UP, DOWN) and h.state != h.alerted_state and h.transition_id is not None
               and systems[h.system_id].enabled]
        session.commit()
        for health in due:
            info = systems[health.system_id]
            window = windows.get(info.id) or windows.get(ALL_SYSTEMS)
            try:
                self._plan_one(session, info, health, window, now)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("alerts: could not plan the alert about %s", info.id)

    def _plan_one(self, session: Session, info: SystemInfo, health: SystemHealth,
                  window: MaintenanceWindow | None, now: datetime) -> None:
        transition = session.get(StateTransition, health.transition_id)
        if transition is None:
            return
        message = self.message(session, info, health, transition, now)
        base = {"kind": message.kind, "state": message.state, "transition_id": transition.id}
        channels = self.configured
        if not channels:
            if self._mark_alerted(session, health):
                record(session, MONITOR, Event(action="monitor.alert", target=info.id, outcome="failure",
                                               details={**base, "reason": "no alert channel configured"}))
            return
        wanted = recipients(session, self.settings, info)
        if window is not None:
            for channel in channels:
                added = [r for r in wanted[channel.name]
                         if _insert(session, transition, info, message, channel.name, r, SILENCED, now)]
                if added:
                    _audit(session, info.id, "silenced", base, channel.name, added,
                           window={"id": window.id, "system_id": window.system_id,
                                   "ends_at": window.ends_at.isoformat()})
            return
        if not self._mark_alerted(session, health):
            return  # another dispatcher planned it, or the state moved on since we looked
        for channel in channels:
            addresses = wanted[channel.name]
            if not addresses:
                _audit(session, info.id, "failure", base, channel.name, [], reason="no recipients with an address")
                continue
            limited = self._plan_rows(session, transition, info, message, channel.name, addresses, now)
            if limited:
                _audit(session, info.id, RATE_LIMITED, base, channel.name, limited,
                       reason=f"more than {self.settings.alerts_max_per_hour} messages about {info.id} in an hour")

    def _mark_alerted(self, session: Session, health: SystemHealth) -> bool:
        """Move ``alerted_state`` to the state of this very transition; True for the one caller who did."""
        result = session.execute(
            update(SystemHealth)
            .where(SystemHealth.system_id == health.system_id, SystemHealth.transition_id == health.transition_id,
                   SystemHealth.state == health.state, SystemHealth.alerted_state == health.alerted_state)
            .values(alerted_state=health.state))
        return result.rowcount == 1

    def _plan_rows(self, session: Session, transition: StateTransition, info: SystemInfo, message: Message,
                   channel: str, addresses: Sequence[str], now: datetime) -> list[str]:
        """Pending rows (silenced ones revived), rate-limited beyond the hourly limit; the limited addresses."""
        existing = {a.recipient: a for a in session.scalars(
            select(Alert).where(Alert.transition_id == transition.id, Alert.channel == channel))}
        counts = dict(session.execute(
            select(Alert.recipient, func.count()).where(
                Alert.system_id == info.id, Alert.channel == channel, Alert.status.in_(COUNTED),
                Alert.created_at >= now - timedelta(hours=1), Alert.recipient.in_(list(addresses)))
            .group_by(Alert.recipient)).all())
        limited = []
        for address in addresses:
            status = RATE_LIMITED if counts.get(address, 0) >= self.settings.alerts_max_per_hour else PENDING
            row = existing.get(address)
            if row is None:
                changed = _insert(session, transition, info, message, channel, address, status, now)
            elif row.status == SILENCED:  # the window ended while the system was still in this state
                changed = session.execute(update(Alert).where(Alert.id == row.id, Alert.status == SILENCED)
                                          .values(status=status, error=None)).rowcount == 1
            else:
                changed = False
            if changed and status == RATE_LIMITED:
                limited.append(address)
        return limited

    # --- delivery -------------------------------------------------------------------------

    def _deliver(self, session: Session, systems: Mapping[str, SystemInfo], now: datetime) -> None:
        rows = list(session.scalars(select(Alert).where(Alert.status.in_((PENDING, FAILED))).order_by(Alert.id)
                                    .execution_options(populate_existing=True)))
        if not rows:
            session.commit()
            return
        current = dict(session.execute(select(SystemHealth.system_id, SystemHealth.transition_id)).all())
        windows = silenced_systems(session, now)
        session.commit()
        groups: dict[tuple[int, str], list[Alert]] = defaultdict(list)
        for row in rows:
            if _claimable(row, now):
                groups[(row.transition_id, row.channel)].append(row)
        for (transition_id, channel_name), group in groups.items():
            system_id = group[0].system_id
            info = systems.get(system_id)
            try:
                if current.get(system_id) != transition_id:
                    self._supersede(session, group, now)
                elif info is not None and not (windows.get(system_id) or windows.get(ALL_SYSTEMS)):
                    channel = self.channels.get(channel_name)
                    if channel is not None and channel.configured:
                        self._deliver_group(session, info, channel, group, now)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("alerts: delivery about %s by %s failed", system_id, channel_name)

    def _deliver_group(self, session: Session, info: SystemInfo, channel: Channel, group: list[Alert],
                       now: datetime) -> None:
        transition = session.get(StateTransition, group[0].transition_id)
        health = session.get(SystemHealth, info.id, populate_existing=True)
        if transition is None or health is None:
            return
        message = self.message(session, info, health, transition, now)
        session.commit()
        claimed = [(row, attempt) for row in group if (attempt := _claim(session, row, now))]
        session.commit()
        if not claimed:
            return  # another dispatcher has them
        outcomes: dict[int, str | None] = {}
        unreachable: str | None = None
        for row, _attempt in claimed:
            if unreachable is not None:
                outcomes[row.id] = unreachable
                continue
            try:
                channel.send(row.recipient, message.subject, message.text, system=info.id, state=message.state)
                outcomes[row.id] = None
            except DeliveryError as exc:
                outcomes[row.id] = exc.detail
                unreachable = exc.detail if exc.unreachable else None
        sent, failed, abandoned = [], {}, []
        for row, attempt in claimed:
            error = outcomes[row.id]
            status = SENT if error is None else (ABANDONED if attempt >= MAX_ATTEMPTS else FAILED)
            session.execute(update(Alert).where(Alert.id == row.id, Alert.attempts == attempt, Alert.status == PENDING)
                            .values(status=status, error=error, sent_at=now if status == SENT else None))
            if error is None:
                sent.append(row.recipient)
            else:
                failed[row.recipient] = error
                if status == ABANDONED:
                    abandoned.append(row.recipient)
        outcome = SENT if not failed else (FAILED if not sent else "partial")
        base = {"kind": message.kind, "state": message.state, "transition_id": transition.id}
        _audit(session, info.id, outcome, base,
               channel.name, [row.recipient for row, _ in claimed], sent=sent, failed=failed, abandoned=abandoned,
               attempts={row.recipient: attempt for row, attempt in claimed})

    def _supersede(self, session: Session, group: list[Alert], now: datetime) -> None:
        """Abandon undelivered rows about a state the system has left: old news is not sent late."""
        reason = "superseded: the system changed state again before this was delivered"
        gone = [row.recipient for row in group if session.execute(
            update(Alert).where(Alert.id == row.id, Alert.status == row.status, Alert.attempts == row.attempts)
            .values(status=ABANDONED, error=reason)).rowcount == 1]
        if gone:
            row = group[0]
            state = DOWN if row.kind == ALERT_DOWN else UP
            base = {"kind": row.kind, "state": state, "transition_id": row.transition_id}
            _audit(session, row.system_id, ABANDONED, base, row.channel, gone, reason=reason)

    def prune(self, session: Session, now: datetime) -> int:
        """Forget finished alert rows older than ``monitor_history_days`` (the caller commits)."""
        cutoff = as_utc(now) - timedelta(days=self.settings.monitor_history_days)
        return session.execute(delete(Alert).where(Alert.created_at < cutoff, Alert.status.not_in((PENDING, FAILED)))
                               .execution_options(synchronize_session=False)).rowcount or 0

    # --- the message ----------------------------------------------------------------------

    def message(self, session: Session, info: SystemInfo, health: SystemHealth, transition: StateTransition,
                now: datetime) -> Message:
        """Subject and text for ``transition`` from the configured templates."""
        state = transition.to_state
        at = transition.at
        if state == DOWN:
            kind, template, duration = ALERT_DOWN, self.settings.alerts_text_down, as_utc(now) - at
        else:
            kind, template = ALERT_RECOVERED, self.settings.alerts_text_recovered
            went_down = session.scalar(
                select(StateTransition.at).where(StateTransition.system_id == info.id,
                                                 StateTransition.to_state == DOWN, StateTransition.at <= transition.at)
                .order_by(StateTransition.at.desc(), StateTransition.id.desc()).limit(1))
            duration = at - went_down if went_down is not None else timedelta(0)
        values = {"system": info.id, "system_name": info.name, "state": state, "since": iso_minutes(at),
                  "reason": transition.reason or health.reason or "-", "duration": human_duration(duration),
                  "owner": info.owner or "-"}
        subject = f"{'DOWN' if kind == ALERT_DOWN else 'RECOVERED'}: {info.name} ({info.id})"
        return Message(kind=kind, state=state, subject=subject, text=fill_template(template, values))


# --- rows and audit -----------------------------------------------------------------------


def _claimable(row: Alert, now: datetime) -> bool:
    if row.status == FAILED:
        return row.attempts < MAX_ATTEMPTS
    if row.attempts == 0:
        return True  # pending, never tried
    return row.sent_at is not None and row.sent_at < now - IN_FLIGHT_STALE  # its sender died


def _claim(session: Session, row: Alert, now: datetime) -> int:
    """Take the row for one attempt (its number), or 0 when someone else took it first."""
    attempt = row.attempts + 1
    taken = session.execute(
        update(Alert).where(Alert.id == row.id, Alert.status == row.status, Alert.attempts == row.attempts)
        .values(status=PENDING, attempts=attempt, sent_at=now, error=None)).rowcount == 1
    return attempt if taken else 0


def _insert(session: Session, transition: StateTransition, info: SystemInfo, message: Message, channel: str,
            recipient: str, status: str, now: datetime) -> bool:
    """Insert one row unless it exists (the unique constraint decides); True if this call inserted it."""
    values: dict[str, Any] = {"transition_id": transition.id, "system_id": info.id, "kind": message.kind,
                              "channel": channel, "recipient": recipient, "status": status, "attempts": 0,
                              "created_at": now}
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT through SQLAlchemy.
        statement = insert(Alert.__table__).values(**values).on_conflict_do_nothing(
            index_elements=["transition_id", "channel", "recipient"]).returning(Alert.__table__.c.id)
        return session.execute(statement).first() is not None
    try:
        with session.begin_nested():
            session.add(Alert(**values))
        return True
    except IntegrityError:
        return False


def _audit(session: Session, system_id: str, outcome: str, base: Mapping[str, Any], channel: str,
           addresses: Sequence[str], **details: Any) -> None:
    """One ``monitor.alert`` event: what was (not) sent about which transition, on which channel, to whom."""
    record(session, MONITOR, Event(action="monitor.alert", target=system_id, outcome=outcome, details={
        **base, "channel": channel, "recipients": list(addresses), "count": len(addresses), **details}))


def iso_minutes(moment: datetime) -> str:
    """``2026-11-24T09:05Z``: UTC to the minute, as alert texts show times."""
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def human_duration(length: timedelta) -> str:
    """``45 s``, ``3 min 20 s``, ``2 h 05 min``, ``1 d 3 h``: how long, for people."""
    seconds = max(0, int(length.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
