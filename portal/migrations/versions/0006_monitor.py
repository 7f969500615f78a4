"""Monitoring: each system's state, observations, state history, alerts, maintenance windows and the
lease that lets one monitor process run at a time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


def upgrade() -> None:
    op.create_table(
        "monitor_systems",
        sa.Column("system_id", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("slow", sa.Integer(), nullable=False),
        sa.Column("last_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_latency_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("next_probe_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transition_id", sa.BigInteger(), nullable=True),
        sa.Column("alerted_state", sa.String(16), nullable=False),
    )
    op.create_table(
        "monitor_checks",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("system_id", sa.String(32), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
    )
    op.create_index("ix_monitor_checks_system_id_checked_at", "monitor_checks", ["system_id", "checked_at"])
    op.create_index("ix_monitor_checks_checked_at", "monitor_checks", ["checked_at"])
    op.create_table(
        "monitor_transitions",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("system_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
    )
    op.create_index("ix_monitor_transitions_system_id_at", "monitor_transitions", ["system_id", "at"])
    op.create_table(
        "monitor_alerts",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("transition_id", sa.BigInteger(),
                  sa.ForeignKey("monitor_transitions.id", name="fk_monitor_alerts_transition_id_monitor_transitions"),
                  nullable=False),
        sa.Column("system_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.UniqueConstraint("transition_id", "channel", "recipient", name="uq_monitor_alerts_transition_id"),
    )
    op.create_index("ix_monitor_alerts_system_id_created_at", "monitor_alerts", ["system_id", "created_at"])
    op.create_table(
        "monitor_maintenance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("system_id", sa.String(32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_monitor_maintenance_system_id_ends_at", "monitor_maintenance", ["system_id", "ends_at"])
    op.create_table(
        "monitor_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
    )


    _grant_admins("monitor.manage")


def _grant_admins(permission: str) -> None:
    """The built-in admin role also manages maintenance windows (a role renamed or removed is left alone)."""
    roles = sa.table("roles", sa.column("name", sa.String), sa.column("permissions", sa.JSON))
    bind = op.get_bind()
    current = bind.execute(sa.select(roles.c.permissions).where(roles.c.name == "admin")).scalar()
    if current is not None and permission not in current:
        bind.execute(roles.update().where(roles.c.name == "admin").values(permissions=[*current, permission]))


def downgrade() -> None:
    op.drop_table("monitor_leases")
    op.drop_index("ix_monitor_maintenance_system_id_ends_at", table_name="monitor_maintenance")
    op.drop_table("monitor_maintenance")
    op.drop_index("ix_monitor_alerts_system_id_created_at", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_index("ix_monitor_transitions_system_id_at", table_name="monitor_transitions")
    op.drop_table("monitor_transitions")
    op.drop_index("ix_monitor_checks_checked_at", table_name="monitor_checks")
    op.drop_index("ix_monitor_checks_system_id_checked_at", table_name="monitor_checks")
    op.drop_table("monitor_checks")
    op.drop_table("monitor_systems")
