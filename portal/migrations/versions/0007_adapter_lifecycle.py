"""Adapter lifecycle: each version's state (draft, approved, live, retired), who approved it, the live
and shadow version of each registered adapter, the lifecycle transitions, and shadow comparisons.

Adapters registered before this revision were in force the moment they were saved: their newest version
becomes live and their earlier versions approved (so that a rollback can reach them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only
TZ_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("adapter_versions") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="draft"))
        batch.add_column(sa.Column("approved_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("approved_at", TZ_DATETIME, nullable=True))
    with op.batch_alter_table("stored_adapters") as batch:
        batch.add_column(sa.Column("live_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("shadow_version", sa.Integer(), nullable=True))
    op.create_table(
        "adapter_transitions",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("adapter_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TZ_DATETIME, nullable=False),
    )
    op.create_index("ix_adapter_transitions_adapter_id", "adapter_transitions", ["adapter_id"])
    op.create_table(
        "shadow_comparisons",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("adapter_id", sa.String(32), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("live_version", sa.Integer(), nullable=True),
        sa.Column("at", TZ_DATETIME, nullable=False),
        sa.Column("live_status", sa.String(16), nullable=False),
        sa.Column("candidate_status", sa.String(16), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
    )
    op.create_index("ix_shadow_comparisons_adapter_id_candidate_version", "shadow_comparisons",
                    ["adapter_id", "candidate_version"])
    _adopt_existing()
    _grant_admins("adapters.approve")


def _adopt_existing() -> None:
    bind = op.get_bind()
    stored = sa.table("stored_adapters", sa.column("id", sa.String), sa.column("version", sa.Integer),
                      sa.column("live_version", sa.Integer))
    versions = sa.table("adapter_versions", sa.column("adapter_id", sa.String), sa.column("version", sa.Integer),
                        sa.column("change", sa.String), sa.column("state", sa.String),
                        sa.column("approved_by", sa.String))
    for adapter_id, version in bind.execute(sa.select(stored.c.id, stored.c.version)).all():
        bind.execute(stored.update().where(stored.c.id == adapter_id).values(live_version=version))
        bind.execute(versions.update().where(versions.c.adapter_id == adapter_id, versions.c.version == version)
                     .values(state="live", approved_by="(before approvals)"))
        bind.execute(versions.update().where(versions.c.adapter_id == adapter_id, versions.c.version < version,
                                             versions.c.change != "delete")
                     .values(state="approved", approved_by="(before approvals)"))


def _grant_admins(permission: str) -> None:
    """The built-in admin role approves adapter versions (a role renamed or removed is left alone)."""
    roles = sa.table("roles", sa.column("name", sa.String), sa.column("permissions", sa.JSON))
    bind = op.get_bind()
    current = bind.execute(sa.select(roles.c.permissions).where(roles.c.name == "admin")).scalar()
    if current is not None and permission not in current:
        bind.execute(roles.update().where(roles.c.name == "admin").values(permissions=[*current, permission]))


def downgrade() -> None:
    op.drop_index("ix_shadow_comparisons_adapter_id_candidate_version", table_name="shadow_comparisons")
    op.drop_table("shadow_comparisons")
    op.drop_index("ix_adapter_transitions_adapter_id", table_name="adapter_transitions")
    op.drop_table("adapter_transitions")
    with op.batch_alter_table("stored_adapters") as batch:
        batch.drop_column("shadow_version")
        batch.drop_column("live_version")
    with op.batch_alter_table("adapter_versions") as batch:
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
        batch.drop_column("state")
