"""Audit events: written in the same transaction as the work they record, never changed.

Every event carries ``seq`` (its place in the chain), ``prev_hash`` (the hash of the event before
it, or of the retention anchor) and ``hash`` (SHA-256 over its canonical form, see ``chain.py``).
``audit_chain_head`` holds the newest (seq, hash); ``audit_anchors`` the chain position of each
retention archive; ``audit_event_systems`` the back-office systems an event touched (for filters
and statistics; derived from the hashed ``details``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.db import Base, UTCDateTime

BIGINT = BigInteger().with_variant(Integer, "sqlite")  # SQLite only autoincrements INTEGER keys


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_occurred_at", "actor", "occurred_at"),
        Index("ix_audit_events_customer_occurred_at", "customer", "occurred_at"),
        Index("ix_audit_events_action_occurred_at", "action", "occurred_at"),
        Index("ix_audit_events_seq", "seq", unique=True),
        Index("ix_audit_events_hash", "hash", unique=True),
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_actor_seq", "actor", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_customer_seq", "customer", "seq"),
        Index("ix_audit_events_outcome_seq", "outcome", "seq"),
    )

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    customer: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seq: Mapped[int] = mapped_column(BIGINT)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditEventSystem(Base):
    __tablename__ = "audit_event_systems"
    __table_args__ = (Index("ix_audit_event_systems_system_seq", "system", "seq"),)

    seq: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str | None] = mapped_column(String(32))
    elapsed_ms: Mapped[int | None] = mapped_column(Integer)


class AuditChainHead(Base):
    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BIGINT)
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """Where the chain continues after a retention prune: the last archived event's (seq, hash)."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BIGINT)
    hash: Mapped[str] = mapped_column(String(64))
    first_seq: Mapped[int | None] = mapped_column(BIGINT)
    count: Mapped[int] = mapped_column(Integer)
    archive: Mapped[str] = mapped_column(String(500))
    archive_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
