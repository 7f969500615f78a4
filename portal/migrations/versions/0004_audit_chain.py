"""Tamper-evident audit log: a hash chain over the events (seq, prev_hash, hash), the chain head,
retention anchors, the systems each event touched, and on PostgreSQL triggers that refuse
UPDATE, DELETE and TRUNCATE of the log (DELETE only for archived events during a prune).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Copied here on purpose: a migration must not change when application code does.
# (portal/audit/chain.py holds the same canonical form.)
HASHED = ("occurred_at", "actor", "roles", "action", "target", "customer", "outcome",
          "client_addr", "correlation_id", "details")


def _iso(value) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hash(row: dict, prev_hash: str) -> str:
    body = {name: row[name] for name in HASHED}
    body["occurred_at"] = _iso(row["occurred_at"])
    for name in ("roles", "details"):
        if isinstance(body[name], str):
            body[name] = json.loads(body[name])
    body["prev_hash"] = prev_hash
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


PG_TRIGGERS = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('portal.audit_prune', true) = 'on'
       AND OLD.seq <= (SELECT coalesce(max(seq), 0) FROM audit_anchors) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_refuse_statement() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.seq < OLD.seq THEN
        RAISE EXCEPTION 'the audit chain head only moves forward'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_statement();
CREATE TRIGGER audit_event_systems_append_only BEFORE UPDATE OR DELETE ON audit_event_systems
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_event_systems_no_truncate BEFORE TRUNCATE ON audit_event_systems
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_statement();
CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_statement();
CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS audit_chain_head_forward_only ON audit_chain_head;
DROP TRIGGER IF EXISTS audit_anchors_append_only ON audit_anchors;
DROP TRIGGER IF EXISTS audit_event_systems_no_truncate ON audit_event_systems;
DROP TRIGGER IF EXISTS audit_event_systems_append_only ON audit_event_systems;
DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events;
DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
DROP FUNCTION IF EXISTS audit_head_forward_only();
DROP FUNCTION IF EXISTS audit_refuse_statement();
DROP FUNCTION IF EXISTS audit_refuse_change();
"""

# SQLite has no roles or session settings; its triggers still stop the application (and casual
# hands) from rewriting history. Deleting is allowed only for events already archived.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       WHEN OLD.seq > (SELECT coalesce(max(seq), 0) FROM audit_anchors)
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused'); END""",
    """CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors
       BEGIN SELECT RAISE(ABORT, 'audit anchors are append-only'); END""",
    """CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
       BEGIN SELECT RAISE(ABORT, 'audit anchors are append-only'); END""",
    """CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
       WHEN NEW.seq < OLD.seq
       BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END""",
]
SQLITE_DROP = ["audit_chain_head_forward_only", "audit_anchors_no_delete", "audit_anchors_no_update",
               "audit_events_no_delete", "audit_events_no_update"]


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", BIGINT, nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))

    # Chain the events written before this revision, oldest first.
    events = sa.table("audit_events", *(sa.column(name) for name in ("id", "seq", "prev_hash", "hash") + HASHED))
    prev, seq = GENESIS, 0
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    for row in rows:
        seq += 1
        digest = _hash(dict(row), prev)
        bind.execute(events.update().where(events.c.id == row["id"]).values(seq=seq, prev_hash=prev, hash=digest))
        prev = digest

    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("seq", existing_type=BIGINT, nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
    op.create_index("ix_audit_events_seq", "audit_events", ["seq"], unique=True)
    op.create_index("ix_audit_events_hash", "audit_events", ["hash"], unique=True)
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
    op.create_index("ix_audit_events_actor_seq", "audit_events", ["actor", "seq"])
    op.create_index("ix_audit_events_action_seq", "audit_events", ["action", "seq"])
    op.create_index("ix_audit_events_customer_seq", "audit_events", ["customer", "seq"])
    op.create_index("ix_audit_events_outcome_seq", "audit_events", ["outcome", "seq"])

    op.create_table(
        "audit_event_systems",
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("elapsed_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("seq", "system", name=op.f("pk_audit_event_systems")),
    )
    op.create_index("ix_audit_event_systems_system_seq", "audit_event_systems", ["system", "seq"])

    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    head = sa.table("audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
    op.bulk_insert(head, [{"id": 1, "seq": seq, "hash": prev}])

    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("first_seq", BIGINT, nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("archive", sa.String(500), nullable=False),
        sa.Column("archive_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
    )

    if bind.dialect.name == "postgresql":
        op.execute(PG_TRIGGERS)
    elif bind.dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_DROP)
    elif bind.dialect.name == "sqlite":
        for name in SQLITE_DROP:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_anchors")
    op.drop_table("audit_chain_head")
    op.drop_index("ix_audit_event_systems_system_seq", table_name="audit_event_systems")
    op.drop_table("audit_event_systems")
    for name in ("outcome_seq", "customer_seq", "action_seq", "actor_seq", "occurred_at", "hash", "seq"):
        op.drop_index(f"ix_audit_events_{name}", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
