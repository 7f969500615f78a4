"""Recording audit events in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent


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


def record(session: Session, actor: Actor, event: Event) -> AuditEvent:
    """Add the event to ``session``; it is written by the same commit as the work it records."""
    row = AuditEvent(
        actor=actor.username,
        roles=list(actor.roles),
        action=event.action,
        outcome=event.outcome,
        target=event.target,
        customer=event.customer,
        client_addr=actor.client_addr,
        correlation_id=event.correlation_id,
        details=dict(event.details),
    )
    session.add(row)
    return row
