"""The hash chain: every kind of alteration is detected and located; record() fails closed."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from sqlalchemy import select, text

from portal.audit import query
from portal.audit.chain import GENESIS, event_hash, iso_utc
from portal.audit.models import AuditEvent
from portal.audit.record import Actor, AuditWriteError, Event, record


def kinds(report):
    return [(p.kind, p.seq) for p in report.problems]


def test_events_form_a_chain_from_genesis(db, write_events):
    seqs = write_events(5)
    assert seqs == [1, 2, 3, 4, 5]
    rows = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert rows[0].prev_hash == GENESIS
    for before, after in pairwise(rows):
        assert after.prev_hash == before.hash
    report = query.verify(db)
    assert report.ok and report.checked == 5 and report.head_seq == 5


def test_the_hash_covers_the_canonical_fields(db, write_events):
    write_events(1, customer="13800000000", details={"systems": {"boss": "ok"}, "note": "ü"})
    row = db.scalars(select(AuditEvent)).one()
    fields = {name: getattr(row, name) for name in ("occurred_at", "actor", "roles", "action", "target", "customer",
                                                      "outcome", "client_addr", "correlation_id", "details")}
    assert event_hash(fields, GENESIS) == row.hash
    assert iso_utc(row.occurred_at).endswith("Z")
    assert event_hash({**fields, "outcome": "denied"}, GENESIS) != row.hash


def test_several_events_in_one_transaction_chain_in_order(db):
    actor = Actor("bob")
    rows = [record(db, actor, Event(action="user.import", target=f"u{i}")) for i in range(4)]
    db.commit()
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert query.verify(db).ok


def test_a_rolled_back_transaction_leaves_no_gap(db, write_events):
    write_events(2)
    record(db, Actor("bob"), Event(action="user.create", target="x"))
    db.rollback()
    write_events(1)
    assert query.verify(db).ok
    assert [r.seq for r in db.scalars(select(AuditEvent).order_by(AuditEvent.seq))] == [1, 2, 3]


def test_a_rolled_back_savepoint_does_not_break_the_chain(db, write_events):
    write_events(1)
    record(db, Actor("bob"), Event(action="a.one"))
    nested = db.begin_nested()
    record(db, Actor("bob"), Event(action="a.two"))
    nested.rollback()
    record(db, Actor("bob"), Event(action="a.three"))
    db.commit()
    assert [r.action for r in db.scalars(select(AuditEvent).order_by(AuditEvent.seq))][1:] == ["a.one", "a.three"]
    assert query.verify(db).ok


def test_modified_event_is_located(db, write_events, tamper):
    write_events(10)
    tamper("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4")
    report = query.verify(db)
    assert not report.ok
    assert kinds(report) == [("modified", 4)]


def test_modified_and_rehashed_event_is_located(db, write_events, tamper):
    write_events(10)
    row = db.scalars(select(AuditEvent).where(AuditEvent.seq == 4)).one()
    fields = {name: getattr(row, name) for name in ("occurred_at", "actor", "roles", "action", "target", "customer",
                                                      "outcome", "client_addr", "correlation_id", "details")}
    fields["outcome"] = "denied"
    forged = event_hash(fields, row.prev_hash)
    tamper("UPDATE audit_events SET outcome = 'denied', hash = :h WHERE seq = 4", h=forged)
    assert kinds(query.verify(db)) == [("modified", 4)]


def test_deleted_event_is_located(db, write_events, tamper):
    write_events(10)
    tamper("DELETE FROM audit_events WHERE seq = 5")
    report = query.verify(db)
    assert kinds(report) == [("deleted", 5)]
    assert "5..5" in report.problems[0].detail


def test_deleted_first_and_last_events_are_located(db, write_events, tamper):
    write_events(10)
    tamper("DELETE FROM audit_events WHERE seq IN (1, 2, 10)")
    assert kinds(query.verify(db)) == [("deleted", 1), ("deleted", 10)]


def test_deleted_and_renumbered_events_are_detected(db, write_events, tamper):
    write_events(10)
    tamper("DELETE FROM audit_events WHERE seq = 5",
           "UPDATE audit_events SET seq = -(seq - 1) WHERE seq > 5",
           "UPDATE audit_events SET seq = -seq WHERE seq < 0")
    report = query.verify(db)
    assert not report.ok
    assert report.problems[0].seq in (4, 5)


def _forge_after(db, seq: int) -> dict:
    before = db.scalars(select(AuditEvent).where(AuditEvent.seq == seq)).one()
    fields = {"occurred_at": before.occurred_at, "actor": "mallory", "roles": [], "action": "user.create",
              "target": "backdoor", "customer": None, "outcome": "success", "client_addr": None,
              "correlation_id": None, "details": {}}
    return {**fields, "roles": json.dumps([]), "details": json.dumps({}), "prev": before.hash,
            "h": event_hash(fields, before.hash)}


INSERT = ("INSERT INTO audit_events (occurred_at, actor, roles, action, target, customer, outcome, client_addr, "
          "correlation_id, details, seq, prev_hash, hash) VALUES (:occurred_at, :actor, :roles, :action, :target, "
          ":customer, :outcome, :client_addr, :correlation_id, :details, :seq, :prev, :h)")


def test_inserted_event_is_located(db, write_events, tamper):
    write_events(10)
    forged = _forge_after(db, 4)
    tamper("UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= 5",
           "UPDATE audit_events SET seq = -seq WHERE seq < 0")
    tamper(INSERT, **forged, seq=5)
    report = query.verify(db)
    assert kinds(report) == [("inserted", 5)]


def test_event_appended_past_the_head_is_flagged_when_it_breaks_the_head(db, write_events, tamper):
    write_events(3)
    forged = _forge_after(db, 3)
    forged["h"] = "f" * 64  # not even re-hashed
    tamper(INSERT, **forged, seq=4)
    assert kinds(query.verify(db)) == [("modified", 4)]


def test_reordered_events_are_located(db, write_events, tamper):
    write_events(10)
    tamper("UPDATE audit_events SET seq = 1000 WHERE seq = 5",
           "UPDATE audit_events SET seq = 5 WHERE seq = 6",
           "UPDATE audit_events SET seq = 6 WHERE seq = 1000")
    report = query.verify(db)
    assert [k for k, _ in kinds(report)] == ["reordered"]
    assert report.problems[0].seq == 5 and "seq 6" in report.problems[0].detail


def test_event_moved_far_is_reordered_and_located(db, write_events, tamper):
    write_events(12)
    # Event 3 moved after event 10: 4..10 shift down one.
    tamper("UPDATE audit_events SET seq = 1000 WHERE seq = 3",
           "UPDATE audit_events SET seq = -(seq - 1) WHERE seq BETWEEN 4 AND 10",
           "UPDATE audit_events SET seq = -seq WHERE seq < 0",
           "UPDATE audit_events SET seq = 10 WHERE seq = 1000")
    report = query.verify(db)
    assert {k for k, _ in kinds(report)} == {"reordered"}
    assert {seq for _, seq in kinds(report)} == {3, 10}  # where the order breaks, and the moved event


def test_database_refuses_update_and_delete(db, write_events):
    write_events(2)
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events",
                      "UPDATE audit_chain_head SET seq = 0"):
        with pytest.raises(Exception) as caught:
            db.execute(text(statement))
            db.flush()
        assert "append-only" in str(caught.value) or "forward" in str(caught.value)
        db.rollback()
    assert query.verify(db).ok


def test_record_failing_rolls_the_change_back(db, make_user):
    from portal.accounts import admin

    make_user("boss", "admin")
    db.execute(text("ALTER TABLE audit_chain_head RENAME TO audit_chain_head_gone"))
    db.commit()
    try:
        with pytest.raises(AuditWriteError):
            admin.create(db, Actor("boss", ("admin",)), {"username": "newbie", "display_name": "N", "roles": ["agent"],
                                                         "password": "correct horse battery"})
        db.rollback()
    finally:
        db.execute(text("ALTER TABLE audit_chain_head_gone RENAME TO audit_chain_head"))
        db.commit()
    from portal.accounts.models import User

    assert db.scalars(select(User).where(User.username == "newbie")).first() is None


def test_audit_write_error_is_a_503_problem(app):
    from portal.errors import PortalError

    assert issubclass(AuditWriteError, PortalError) and AuditWriteError.http_status == 503
