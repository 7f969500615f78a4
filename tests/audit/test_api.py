"""/api/v1/audit: filters, keyset pages, one event, verification and streamed, audited exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.audit.record import Actor, Event, record


@pytest.fixture
def auditor(app, make_user):
    from portal.accounts.service import issue_token

    make_user("audrey", "auditor")
    with app.extensions["portal.db"].session() as session:
        _, value = issue_token(session, "audrey")
        session.commit()
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def log(db):
    """A small, varied log."""
    def add(actor, action, outcome="success", customer=None, target=None, details=None, addr="10.0.0.9"):
        record(db, Actor(actor, ("agent",), addr), Event(action=action, outcome=outcome, customer=customer,
                                                         target=target, details=details or {}))

    add("alice", "auth.login")
    add("alice", "customer.lookup", customer="13800000001", details={"systems": {"boss": "ok", "smsc": "timeout"},
                                                                     "latency_ms": {"boss": 40, "smsc": 2000}})
    add("alice", "customer.reveal", customer="13800000001", target="boss.id_number", details={"system": "boss"})
    add("bob", "auth.login_failed", outcome="failure", target="bob")
    add("bob", "customer.lookup", outcome="denied", customer="13900000002")
    add("bob", "system.open", customer="13800000001", target="smsc")
    db.commit()
    return add


def test_list_newest_first(client, auditor, log):
    body = client.get("/api/v1/audit", headers=auditor).get_json()
    actions = [e["action"] for e in body["events"]]
    assert actions[:6] == ["system.open", "customer.lookup", "auth.login_failed", "customer.reveal",
                           "customer.lookup", "auth.login"] or actions[0] == "system.open"
    first = body["events"][0]
    assert set(first) >= {"seq", "occurred_at", "actor", "roles", "action", "target", "customer", "outcome",
                          "client_addr", "details", "prev_hash", "hash"}
    assert first["occurred_at"].endswith("Z")


@pytest.mark.parametrize("query, expected", [
    ("actor=bob", {"auth.login_failed", "customer.lookup", "system.open"}),
    ("action=auth.*", {"auth.login", "auth.login_failed"}),
    ("customer=13800000001", {"customer.lookup", "customer.reveal", "system.open"}),
    ("system=smsc", {"customer.lookup", "system.open"}),
    ("system=boss", {"customer.lookup", "customer.reveal"}),
    ("outcome=denied", {"customer.lookup"}),
    ("actor=alice&action=customer.reveal", {"customer.reveal"}),
    ("since=2000-01-01&until=2001-01-01", set()),
])
def test_filters(client, auditor, log, query, expected):
    events = client.get(f"/api/v1/audit?{query}", headers=auditor).get_json()["events"]
    assert {e["action"] for e in events if e["actor"] != "audrey"} == expected


def test_keyset_pages_cover_everything_once(client, auditor, db):
    for i in range(23):
        record(db, Actor("carol"), Event(action="customer.lookup", customer=f"138{i:08d}"))
    db.commit()
    seen, url = [], "/api/v1/audit?actor=carol&limit=5"
    while url:
        body = client.get(url, headers=auditor).get_json()
        seen += [e["seq"] for e in body["events"]]
        url = body["next"]
    assert len(seen) == 23 and seen == sorted(seen, reverse=True) and len(set(seen)) == 23


@pytest.mark.parametrize("query, words", [
    ("since=yesterday", "ISO 8601"), ("limit=0", "between"), ("limit=x", "not a number"),
    ("cursor=abc", "cursor"), ("since=2026-01-02&until=2026-01-01", "before"),
])
def test_bad_filters_are_400_problems(client, auditor, query, words):
    response = client.get(f"/api/v1/audit?{query}", headers=auditor)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert words in response.get_json()["detail"]


def test_one_event(client, auditor, log, db):
    seq = db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "customer.reveal"))
    body = client.get(f"/api/v1/audit/{seq}", headers=auditor).get_json()
    assert body["target"] == "boss.id_number" and body["seq"] == seq
    assert client.get("/api/v1/audit/999999", headers=auditor).status_code == 404
    assert client.get("/api/v1/audit/abc", headers=auditor).status_code == 422  # not an event number at all


def test_verify_reports_and_is_audited(client, auditor, log, db):
    body = client.get("/api/v1/audit/verify", headers=auditor).get_json()
    assert body["ok"] is True and body["problems"] == [] and body["checked"] >= 6
    last = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last.action == "audit.verify" and last.actor == "audrey" and last.details["problems"] == 0


def test_verify_names_a_tampered_event(client, auditor, log, db, tamper):
    seq = db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "customer.reveal"))
    tamper(f"UPDATE audit_events SET customer = '13999999999' WHERE seq = {seq}")
    body = client.get("/api/v1/audit/verify", headers=auditor).get_json()
    assert body["ok"] is False
    assert body["problems"][0]["kind"] == "modified" and body["problems"][0]["seq"] == seq


def test_verify_from_the_checkpoint_walks_only_what_was_added_since(client, auditor, log, db):
    full = client.get("/api/v1/audit/verify", headers=auditor).get_json()
    assert full["from_checkpoint"] is False
    record(db, Actor("bob"), Event(action="customer.lookup", customer="13800000001"))
    db.commit()
    since = client.get("/api/v1/audit/verify?from=checkpoint", headers=auditor).get_json()
    assert since["ok"] is True and since["from_checkpoint"] is True
    assert since["anchor_seq"] == full["head_seq"]
    assert since["checked"] == 2  # the first verification's own event and the lookup after it
    recorded = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert recorded.details["head_seq"] == since["head_seq"] and recorded.details["from_checkpoint"] is True


def test_a_changed_checkpoint_event_fails_the_quick_verification(client, auditor, log, db, tamper):
    full = client.get("/api/v1/audit/verify", headers=auditor).get_json()
    tamper(f"UPDATE audit_events SET outcome = 'denied' WHERE seq = {full['head_seq']}")
    body = client.get("/api/v1/audit/verify?from=checkpoint", headers=auditor).get_json()
    assert body["ok"] is False
    [problem] = body["problems"]
    assert (problem["kind"], problem["seq"]) == ("modified", full["head_seq"])
    assert "run a full verification" in problem["detail"]


def test_a_failed_verification_is_no_checkpoint(client, auditor, log, db, tamper):
    seq = db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "customer.reveal"))
    tamper(f"UPDATE audit_events SET customer = '13999999999' WHERE seq = {seq}")
    assert client.get("/api/v1/audit/verify", headers=auditor).get_json()["ok"] is False
    again = client.get("/api/v1/audit/verify?from=checkpoint", headers=auditor).get_json()
    assert again["from_checkpoint"] is False and again["ok"] is False  # no checkpoint: the whole chain again


def test_verify_rejects_an_unknown_start(client, auditor, log):
    response = client.get("/api/v1/audit/verify?from=yesterday", headers=auditor)
    assert response.status_code == 400 and "checkpoint" in response.get_json()["detail"]


def test_export_jsonl_streams_and_is_audited(client, auditor, log, db):
    response = client.get("/api/v1/audit/export?format=jsonl&actor=alice", headers=auditor)
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "application/x-ndjson"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["action"] for line in lines] == ["auth.login", "customer.lookup", "customer.reveal"]
    exported = db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
    assert exported.actor == "audrey" and exported.details == {"format": "jsonl", "filters": {"actor": "alice"}}


def test_export_csv(client, auditor, log):
    response = client.get("/api/v1/audit/export?format=csv", headers=auditor)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0]["action"] == "auth.login"
    assert json.loads(rows[1]["details"])["systems"]["boss"] == "ok"


def test_csv_cells_cannot_start_a_formula(client, auditor, db):
    record(db, Actor("eve"), Event(action="user.create", target="=HYPERLINK(\"http://x\")"))
    db.commit()
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/audit/export?format=csv",
                                                      headers=auditor).get_data(as_text=True))))
    assert rows[0]["target"].startswith("'=")


def test_export_rejects_an_unknown_format(client, auditor):
    response = client.get("/api/v1/audit/export?format=xlsx", headers=auditor)
    assert response.status_code == 400 and "format" in response.get_json()["detail"]


def test_agents_may_not_read_the_log(client, token):
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/api/v1/audit", "/api/v1/audit/1", "/api/v1/audit/verify", "/api/v1/audit/export", "/api/v1/stats"):
        assert client.get(path, headers=headers).status_code == 403, path


def test_time_window_filters_and_pages(client, auditor, db, monkeypatch):
    from datetime import datetime, timedelta

    from portal import clock

    real = clock.utcnow
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for day in range(10):
        for i in range(3):
            monkeypatch.setattr(clock, "utcnow", lambda d=day, i=i: base + timedelta(days=d, hours=i))
            record(db, Actor(f"op{i}"), Event(action="customer.lookup", details={"systems": {"boss": "ok"}}))
    db.commit()
    monkeypatch.setattr(clock, "utcnow", real)
    events = client.get("/api/v1/audit?since=2026-03-04&until=2026-03-06&limit=2", headers=auditor).get_json()
    seen = [e["occurred_at"][:10] for e in events["events"]]
    while events["next"]:
        events = client.get(events["next"], headers=auditor).get_json()
        seen += [e["occurred_at"][:10] for e in events["events"]]
    assert seen == ["2026-03-05"] * 3 + ["2026-03-04"] * 3
    body = client.get("/api/v1/audit?system=boss&actor=op1&since=2026-03-09T00:00:00Z", headers=auditor).get_json()
    assert [e["occurred_at"][:13] for e in body["events"]] == ["2026-03-10T01", "2026-03-09T01"]
    future = client.get("/api/v1/audit?since=2030-01-01", headers=auditor).get_json()
    assert future["events"] == []
    past = client.get("/api/v1/audit?until=2020-01-01", headers=auditor).get_json()
    assert past["events"] == []
