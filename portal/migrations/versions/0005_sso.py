"""Sign-in: server-side sessions, login throttling, hand-off signing keys and redemptions, encrypted
per-system credentials, TOTP factors and identity-provider links.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sso_sessions",
        sa.Column("handle", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_sso_sessions_user_id", "sso_sessions", ["user_id"])
    op.create_index("ix_sso_sessions_expires_at", "sso_sessions", ["expires_at"])
    op.create_table(
        "sso_login_throttle",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=True),
    )
    op.create_table(
        "sso_signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("retired_at", sa.Float(), nullable=True),
    )
    op.create_table(
        "sso_redeemed_handoffs",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("system_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("redeemed_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_sso_redeemed_handoffs_expires_at", "sso_redeemed_handoffs", ["expires_at"])
    op.create_table(
        "sso_credentials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("system_id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("login_username", sa.String(200), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("system_id", "operator", name="uq_sso_credentials_system_id"),
    )
    op.create_table(
        "sso_totp",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("confirmed_at", sa.Float(), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
    )
    op.create_table(
        "sso_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("last_login_at", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.UniqueConstraint("provider", "subject", name="uq_sso_identities_provider"),
    )
    op.create_index("ix_sso_identities_user_id", "sso_identities", ["user_id"])


def downgrade() -> None:
    for table in ("sso_identities", "sso_totp", "sso_credentials", "sso_redeemed_handoffs", "sso_signing_keys",
                  "sso_login_throttle", "sso_sessions"):
        op.drop_table(table)
