"""Accounts, roles, API tokens and the audit log; the four built-in roles.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Copied here on purpose: a migration must not change when application code does.
BUILTIN_ROLES = [
    ("agent", "Call-centre agent: looks customers up and opens their systems",
     ["customer.lookup", "system.*.view", "system.*.open"]),
    ("admin", "Administrator: operators, roles and adapters",
     ["users.manage", "roles.manage", "adapters.manage", "monitor.read", "stats.read"]),
    ("auditor", "Auditor: reads and exports the operation log",
     ["audit.read", "audit.export", "stats.read"]),
    ("system_owner", "System owner: maintains the adapters of their own systems",
     ["adapters.own", "monitor.read"]),
]

TZ_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    roles = op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_roles_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ_DATETIME, nullable=False),
        sa.Column("last_login_at", TZ_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name=op.f("fk_user_roles_role_id_roles"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_user_roles")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TZ_DATETIME, nullable=False),
        sa.Column("last_used_at", TZ_DATETIME, nullable=True),
        sa.Column("revoked_at", TZ_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("occurred_at", TZ_DATETIME, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("customer", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("client_addr", sa.String(64), nullable=True),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_actor_occurred_at", "audit_events", ["actor", "occurred_at"])
    op.create_index("ix_audit_events_customer_occurred_at", "audit_events", ["customer", "occurred_at"])
    op.create_index("ix_audit_events_action_occurred_at", "audit_events", ["action", "occurred_at"])

    op.bulk_insert(
        roles,
        [{"name": name, "description": text, "permissions": perms} for name, text, perms in BUILTIN_ROLES],
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("api_tokens")
    op.drop_table("user_roles")
    op.drop_table("users")
    op.drop_table("roles")
