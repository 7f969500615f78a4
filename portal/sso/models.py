"""Tables of sign-in: server-side sessions, login throttling, hand-off keys and redemptions,
encrypted per-system credentials, second factors and identity-provider links (migration 0005)."""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base


class SessionRow(Base):
    """One portal session. Only the SHA-256 of the cookie value is kept (``handle``)."""

    __tablename__ = "sso_sessions"

    handle: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # the earlier of idle and absolute end


class LoginThrottle(Base):
    """Failed sign-ins counted per key: ``user:<name>`` or ``addr:<client address>``."""

    __tablename__ = "sso_login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[float] = mapped_column(Float)
    locked_until: Mapped[float | None] = mapped_column(Float)


class SigningKey(Base):
    """A hand-off signing key; the private half encrypted by the vault."""

    __tablename__ = "sso_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    retired_at: Mapped[float | None] = mapped_column(Float)


class RedeemedHandoff(Base):
    """A hand-off token's id once a system has redeemed it: a second redemption is refused."""

    __tablename__ = "sso_redeemed_handoffs"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    system_id: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    redeemed_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class SystemCredential(Base):
    """Form-mode credentials of one system: a service account (operator ``*``) or one per operator."""

    __tablename__ = "sso_credentials"
    __table_args__ = (UniqueConstraint("system_id", "operator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[str] = mapped_column(String(64))
    operator: Mapped[str] = mapped_column(String(64))
    login_username: Mapped[str] = mapped_column(String(200))
    secret: Mapped[bytes] = mapped_column(LargeBinary)  # the password, encrypted (Fernet, PORTAL_VAULT_KEY)
    updated_at: Mapped[float] = mapped_column(Float)


class TotpFactor(Base):
    """An operator's TOTP secret (encrypted); ``confirmed_at`` is set once a first code was right."""

    __tablename__ = "sso_totp"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed_at: Mapped[float | None] = mapped_column(Float)
    last_step: Mapped[int | None] = mapped_column(Integer)  # the last accepted time step: no reuse


class ExternalIdentity(Base):
    """An operator's account at an identity provider (``provider`` + ``subject``)."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    claims: Mapped[dict] = mapped_column(JSON, default=dict)
    last_login_at: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
