"""Three-layer roles (field grants, content rules), the supervisor role, operator contact data,
and a session epoch per operator (bumped to end all their sessions).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""


import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Copied here on purpose: a migration must not change when application code does.
FIELD_GRANTS = {
    "agent": {"public": "show", "internal": "show", "financial": "show", "pii": "mask", "*": "mask"},
    "supervisor": {"*": "show"},
    "admin": {"*": "hide"},
    "auditor": {"*": "hide"},
    "system_owner": {"*": "hide"},
}
SUPERVISOR = ("supervisor", "Supervisor: looks customers up, reveals masked values, sees every field",
              ["customer.lookup", "customer.reveal", "system.*.view", "system.*.open"])

def upgrade() -> None:
    with op.batch_alter_table("roles") as batch:
        batch.add_column(sa.Column("field_grants", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("content_rules", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("builtin", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))
        batch.add_column(sa.Column("region", sa.String(64), nullable=True))
        batch.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))

    roles = sa.table("roles", sa.column("name", sa.String), sa.column("description", sa.Text),
                     sa.column("permissions", sa.JSON), sa.column("field_grants", sa.JSON),
                     sa.column("content_rules", sa.JSON), sa.column("builtin", sa.Boolean))
    name, description, permissions = SUPERVISOR
    op.bulk_insert(roles, [{"name": name, "description": description, "permissions": permissions,
                            "field_grants": {}, "content_rules": [], "builtin": True}])
    for role, grants in FIELD_GRANTS.items():
        op.execute(roles.update().where(roles.c.name == role)
                   .values(field_grants=grants,
                           builtin=True))

def downgrade() -> None:
    op.execute("DELETE FROM roles WHERE name = 'supervisor'")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_epoch")
        batch.drop_column("region")
        batch.drop_column("phone")
        batch.drop_column("email")
    with op.batch_alter_table("roles") as batch:
        batch.drop_column("builtin")
        batch.drop_column("content_rules")
        batch.drop_column("field_grants")
