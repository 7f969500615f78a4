"""Audit fixtures: events written through record(), and the hands of someone altering the table."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from portal.audit.record import Actor, Event, record


@pytest.fixture
def write_events(db):
    """Write ``count`` events (one transaction each), return their seqs."""

    def write(count: int, *, actor: str = "alice", action: str = "customer.lookup", **fields) -> list[int]:
        seqs = []
        for i in range(count):
            details = fields.pop("details", None) or {"n": i}
            row = record(db, Actor(actor, ("agent",), "10.0.0.1"), Event(action=action, details=details, **fields))
            db.commit()
            seqs.append(row.seq)
        return seqs

    return write


@pytest.fixture
def tamper(db):
    """Run raw SQL against the log with its append-only triggers out of the way (what a DBA could do)."""
    dialect = db.get_bind().dialect.name

    def run(*statements: str, **params) -> None:
        if dialect == "postgresql":
            db.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            for name in ("audit_events_no_update", "audit_events_no_delete"):
                db.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        for statement in statements:
            db.execute(text(statement), params)
        if dialect == "postgresql":
            db.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        db.commit()

    return run
