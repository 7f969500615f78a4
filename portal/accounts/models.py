"""Operator accounts, roles and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.db import Base, UTCDateTime

user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="RESTRICT"), primary_key=True),
)


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Permission names of DESIGN §4 (``*`` allowed inside a segment).
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Sensitivity class -> "show" | "mask" | "hide"; "*" is the default for classes not named.
    field_grants: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Content rules (see portal.rbac.rules): which customers and records this role sees.
    content_rules: Mapped[list[dict]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(default=False)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(64))
    # Every session carries the epoch it started in; raising it ends all of them at once.
    session_epoch: Mapped[int] = mapped_column(default=0)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Teams the operator belongs to; a system owner manages the adapters whose `owner` is one of them.
    teams: Mapped[list[str]] = mapped_column(JSON, default=list)

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin", order_by=Role.name)
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def role_names(self) -> list[str]:
        return [role.name for role in self.roles]

    @property
    def permissions(self) -> set[str]:
        return {perm for role in self.roles for perm in role.permissions}


class ApiToken(Base):
    """A personal API token; only its SHA-256 is kept, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")
