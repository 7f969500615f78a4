"""Adapters registered through the portal, and every version of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.accounts.models import utcnow
from portal.db import Base


class StoredAdapter(Base):
    """The current document of an adapter registered in the database."""

    __tablename__ = "stored_adapters"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))


class AdapterVersion(Base):
    """One change of a stored adapter: who, when, what. Kept after the adapter is deleted.

    The highest ``id`` doubles as the catalogue's generation: every portal
    instance compares it to notice changes made through another instance.
    """

    __tablename__ = "adapter_versions"
    __table_args__ = (Index("ix_adapter_versions_adapter_id_version", "adapter_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    adapter_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    change: Mapped[str] = mapped_column(String(16))  # create | update | delete
    document: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
