"""Adapters registered through the portal, every version of them, and how versions go live."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.db import Base, UTCDateTime

BIGID = BigInteger().with_variant(Integer(), "sqlite")


class VersionState(str, enum.Enum):
    """Where one version of an adapter stands (docs/adapters.md, "How a version goes live")."""

    DRAFT = "draft"  # saved by its owner; seen by nobody but the owners' test console and shadow runs
    APPROVED = "approved"  # reviewed; may be promoted (again: a rollback promotes an earlier approved version)
    LIVE = "live"  # the one version agents' lookups and quick channels use
    RETIRED = "retired"  # never used again


class StoredAdapter(Base):
    """An adapter registered in the database: its newest document, and which version is live."""

    __tablename__ = "stored_adapters"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # the newest version's
    version: Mapped[int] = mapped_column(default=1)  # the newest version
    live_version: Mapped[int | None] = mapped_column(default=None)
    shadow_version: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))


class AdapterVersion(Base):
    """One change of a stored adapter: who, when, what, and its state. Kept after the adapter is deleted.

    The highest ``id`` (with the highest :class:`AdapterTransition` id) is the
    catalogue's generation: every portal instance compares it to notice changes
    made through another instance.
    """

    __tablename__ = "adapter_versions"
    __table_args__ = (Index("ix_adapter_versions_adapter_id_version", "adapter_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    adapter_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    change: Mapped[str] = mapped_column(String(16))  # create | update | delete
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    state: Mapped[str] = mapped_column(String(16), default=VersionState.DRAFT.value)
    approved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class AdapterTransition(Base):
    """One lifecycle step: approve, promote, rollback, retire, shadow, unshadow."""

    __tablename__ = "adapter_transitions"

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    adapter_id: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(16))
    version: Mapped[int | None]
    previous_version: Mapped[int | None]
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)


class ShadowComparison(Base):
    """How a candidate version's answer compared with the live one's for one real lookup.

    Statuses and, per field, ``same``/``differs``/``missing``: never a value or a
    customer number, so a shadow run stores nothing beyond what the audit log keeps.
    """

    __tablename__ = "shadow_comparisons"
    __table_args__ = (Index("ix_shadow_comparisons_adapter_id_candidate_version", "adapter_id", "candidate_version"),)

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    adapter_id: Mapped[str] = mapped_column(String(32))
    candidate_version: Mapped[int]
    live_version: Mapped[int | None]
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    live_status: Mapped[str] = mapped_column(String(16))
    candidate_status: Mapped[str] = mapped_column(String(16))
    fields: Mapped[dict[str, str]] = mapped_column(JSON)
