"""Adapters registered by system owners, their version history, and operators' teams.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("teams", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "stored_adapters",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ_DATETIME, nullable=False),
        sa.Column("updated_at", TZ_DATETIME, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_adapters")),
    )
    op.create_index(op.f("ix_stored_adapters_owner"), "stored_adapters", ["owner"])
    op.create_table(
        "adapter_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("adapter_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", TZ_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adapter_versions")),
    )
    op.create_index("ix_adapter_versions_adapter_id_version", "adapter_versions", ["adapter_id", "version"], unique=True)


def downgrade() -> None:
    op.drop_table("adapter_versions")
    op.drop_table("stored_adapters")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("teams")
