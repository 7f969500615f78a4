"""Recording audit events in the caller's transaction, appended to the hash chain.

``record()`` takes the chain lock (PostgreSQL: a transaction-level advisory lock; SQLite: the
database write lock, taken by a write before anything is read), reads the chain head, hashes the
event onto it and moves the head forward. The lock is held until the caller commits or rolls back,
so writers from any number of processes form one chain. If anything fails, ``record()`` raises
:class:`AuditWriteError` and the caller's transaction must not commit: no change without its event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal import clock
from portal.audit.chain import HASHED, event_hash, normalise_json
from portal.audit.models import AuditEvent, AuditEventSystem
from portal.db import always
from portal.errors import PortalError

log = logging.getLogger(__name__)

CHAIN_LOCK_KEY = 0x5041_5544_4954  # "PAUDIT": one advisory lock for the one chain


class AuditWriteError(PortalError):
    """The event could not be written; the change it records must not happen (not safe to retry blindly)."""

    code = "audit_unavailable"
    title = "Audit log unavailable"
    http_status = 503


@dataclass(frozen=True)
class Actor:
    """Who did it, as the audit log remembers them."""

    username: str
    roles: tuple[str, ...] = ()
    client_addr: str | None = None


ANONYMOUS = Actor(username="-")


@dataclass(frozen=True)
class Event:
    action: str
    outcome: str = "success"
    target: str | None = None
    customer: str | None = None
    correlation_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


_listeners: list = []  # forwarders (callables taking an event document), see forward.py
# In-process observers by name (e.g. metrics), kept when an app replaces the forwarders: see observe().
_observers: dict[str, Callable[[dict[str, Any]], None]] = {}


def observe(name: str, callback: Callable[[dict[str, Any]], None]) -> None:
    """Call ``callback(document)`` for every committed event, after the commit, never failing it.

    Keyed by ``name`` so that building many apps in one process registers one observer, not many.
    """
    _observers[name] = callback


def record(session: Session, actor: Actor, event: Event) -> AuditEvent:
    """Append the event to the chain in ``session``'s transaction; it commits with the work it records."""
    try:
        return _append(session, actor, event)
    except AuditWriteError:
        raise
    except (SQLAlchemyError, TypeError, ValueError) as exc:
        log.error("audit event %s by %s could not be written: %s", event.action, actor.username, exc)
        raise AuditWriteError(f"the audit event {event.action!r} could not be written; nothing was changed") from exc


def record_refusal(session: Session, actor: Actor, event: Event) -> None:
    """Record a refused operation: written when the unit of work ends, even though the operation rolls back."""
    always(session, lambda s: record(s, actor, event))


def _append(session: Session, actor: Actor, event: Event) -> AuditEvent:
    head_seq, head_hash = _chain_tail(session)
    details = normalise_json(dict(event.details))
    row = AuditEvent(
        occurred_at=clock.utcnow(),
        actor=actor.username,
        roles=list(actor.roles),
        action=event.action,
        outcome=event.outcome,
        target=event.target,
        customer=event.customer,
        client_addr=actor.client_addr,
        correlation_id=event.correlation_id,
        details=details,
        seq=head_seq + 1,
        prev_hash=head_hash,
    )
    row.hash = event_hash({name: getattr(row, name) for name in HASHED}, head_hash)
    session.add(row)
    for system, status, elapsed in touched_systems(row.action, row.target, details):
        session.add(AuditEventSystem(seq=row.seq, system=system, status=status, elapsed_ms=elapsed))
    session.flush()  # written now, so a failure raises here, inside the caller's transaction
    session.info[_TAIL] = row
    if _listeners or _observers:
        _queue_for_forwarding(session, row)
    return row


_TAIL = "portal.audit.tail"  # the newest event this transaction wrote (the chain lock is held)


def _chain_tail(session: Session) -> tuple[int, str]:
    """(seq, hash) to chain the next event onto; locks the chain on the transaction's first event."""
    tail = session.info.get(_TAIL)
    if tail is not None and inspect(tail).persistent:
        return tail.seq, tail.hash
    if tail is None:
        _lock_chain(session)
    # First event of the transaction, or the last one vanished with a rolled-back savepoint.
    return _stored_tail(session)


def _stored_tail(session: Session) -> tuple[int, str]:
    head_seq, head_hash = session.execute(text("SELECT seq, hash FROM audit_chain_head WHERE id = 1")).one()
    # Events this transaction wrote before a savepoint rolled back sit past the head (it moves at commit).
    newest = session.execute(text("SELECT seq, hash FROM audit_events WHERE seq > :seq ORDER BY seq DESC LIMIT 1"),
                             {"seq": head_seq}).first()
    return (newest[0], newest[1]) if newest else (head_seq, head_hash)


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    else:
        # SQLite: a write takes the database's one write lock (waiting up to the busy timeout),
        # so the head read next cannot be stale.
        session.execute(text("UPDATE audit_chain_head SET seq = seq WHERE id = 1"))


@sa_event.listens_for(Session, "before_commit")
def _move_head(session: Session) -> None:
    """Move the chain head to this transaction's newest event, once, just before the commit."""
    if _TAIL not in session.info:
        return
    tail = session.info[_TAIL]
    if tail is not None and inspect(tail).persistent:
        seq, digest = tail.seq, tail.hash
    else:
        session.flush()
        seq, digest = _stored_tail(session)
    try:
        session.execute(text("UPDATE audit_chain_head SET seq = :seq, hash = :hash WHERE id = 1"),
                        {"seq": seq, "hash": digest})
    except SQLAlchemyError as exc:
        raise AuditWriteError("the audit chain head could not be moved; nothing was changed") from exc


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_rollback")
def _forget_tail(session: Session) -> None:
    session.info.pop(_TAIL, None)


def touched_systems(action: str, target: str | None, details: dict[str, Any]) -> list[tuple[str, str | None, int | None]]:
    """The back-office systems an event concerns, with their status and latency when known."""
    found: dict[str, tuple[str | None, int | None]] = {}
    systems = details.get("systems")
    latency = details.get("latency_ms") if isinstance(details.get("latency_ms"), dict) else {}
    if isinstance(systems, dict):
        for system, value in systems.items():
            if isinstance(value, dict):
                found[str(system)] = (_short(value.get("status")), _int(value.get("elapsed_ms")))
            else:
                found[str(system)] = (_short(value), _int(latency.get(system)))
    elif isinstance(systems, list):
        for system in systems:
            found[str(system)] = (None, None)
    if isinstance(details.get("system"), str):
        found.setdefault(details["system"], (None, None))
    if target and (action.startswith("system.") or action.startswith("adapter.")):
        found.setdefault(target, (None, None))
    return [(system[:64], status, elapsed) for system, (status, elapsed) in found.items()]


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:32]


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _queue_for_forwarding(session: Session, row: AuditEvent) -> None:
    """Queue the event for the forwarders; ``forward.py`` sends the queue when the session commits."""
    from portal.audit.export import event_document

    session.info.setdefault("audit_forward", []).append(event_document(row))

