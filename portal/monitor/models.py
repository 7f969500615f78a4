"""What the monitor knows, shared by every portal instance through the database.

The monitor process writes these tables; any portal instance reads them for
``/monitor`` and ``/metrics``. Alerts are unique per (transition, channel,
recipient), so even two monitors that both believed they held the lease could
not send the same message twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.db import Base, UTCDateTime

# States of a system. ``unknown`` until the first observation.
UP, DEGRADED, DOWN, UNKNOWN = "up", "degraded", "down", "unknown"
STATES = (UP, DEGRADED, DOWN, UNKNOWN)

# Alert kinds and delivery outcomes.
ALERT_DOWN, ALERT_RECOVERED = "down", "recovered"
PENDING, SENT, FAILED, SILENCED, RATE_LIMITED, ABANDONED = (
    "pending", "sent", "failed", "silenced", "rate_limited", "abandoned")


class SystemHealth(Base):
    """The current state of one back-office system, as the monitor last judged it."""

    __tablename__ = "monitor_systems"

    system_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default=UNKNOWN)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    reason: Mapped[str | None] = mapped_column(String(300))  # why it is in this state, for people
    failures: Mapped[int] = mapped_column(Integer, default=0)    # consecutive failed observations
    successes: Mapped[int] = mapped_column(Integer, default=0)   # consecutive good observations
    slow: Mapped[int] = mapped_column(Integer, default=0)        # consecutive good but slow observations
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    next_probe_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest transition into ``state`` and the last state announced to people (up or down).
    transition_id: Mapped[int | None] = mapped_column(BigInteger)
    alerted_state: Mapped[str] = mapped_column(String(16), default=UP)


class HealthCheck(Base):
    """One observation: a probe the monitor ran, or a real lookup's answer from one system."""

    __tablename__ = "monitor_checks"
    __table_args__ = (Index("ix_monitor_checks_system_id_checked_at", "system_id", "checked_at"),
                      Index("ix_monitor_checks_checked_at", "checked_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    system_id: Mapped[str] = mapped_column(String(32))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    source: Mapped[str] = mapped_column(String(16))   # connect | wsdl | canary | lookup
    ok: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))   # ok | not_found | timeout | error | unavailable
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))


class StateTransition(Base):
    """A change of a system's state: the history on the monitor page, and what alerts are about."""

    __tablename__ = "monitor_transitions"
    __table_args__ = (Index("ix_monitor_transitions_system_id_at", "system_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    system_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(300))


class Alert(Base):
    """One message to one recipient on one channel about one transition (or why it was not sent)."""

    __tablename__ = "monitor_alerts"
    __table_args__ = (
        UniqueConstraint("transition_id", "channel", "recipient", name="uq_monitor_alerts_transition_id"),
        Index("ix_monitor_alerts_system_id_created_at", "system_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    transition_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("monitor_transitions.id"))
    system_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))        # down | recovered
    channel: Mapped[str] = mapped_column(String(16))     # email | sms
    recipient: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(300))


class MaintenanceWindow(Base):
    """A planned outage: alerts about ``system_id`` (``*``: every system) are silenced inside it."""

    __tablename__ = "monitor_maintenance"
    __table_args__ = (Index("ix_monitor_maintenance_system_id_ends_at", "system_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))


class MonitorLease(Base):
    """Who runs the monitor now. Only the holder of an unexpired lease probes and alerts."""

    __tablename__ = "monitor_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How far the monitor has read real lookups from the audit log (audit_events.seq).
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
