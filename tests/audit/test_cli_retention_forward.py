"""`portal audit verify|export|prune`, retention from an anchor, SIEM forwarding, statistics and outliers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from portal.audit import query, retention, stats
from portal.audit.models import AuditAnchor, AuditEvent
from portal.audit.record import Actor, Event, record
from portal.cli import main


@pytest.fixture
def run(settings_overrides, monkeypatch, app):
    for key, value in settings_overrides.items():
        if key != "testing":
            text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)  # lists: JSON (egress_allow)
            monkeypatch.setenv(f"PORTAL_{key.upper()}", text)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_cli_verify_ok_and_broken(run, write_events, tamper):
    write_events(5)
    result = run("audit", "verify")
    assert result.exit_code == 0 and "chain OK" in result.output and "checked 5 events" in result.output
    tamper("UPDATE audit_events SET details = '{}' WHERE seq = 2")
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "MODIFIED  seq 2" in result.output and "chain BROKEN" in result.output
    report = json.loads(run("audit", "verify", "--json").output)
    assert report["problems"][0] == {**report["problems"][0], "kind": "modified", "seq": 2}


def test_cli_verify_since_checkpoint_checks_only_the_new_events(run, write_events):
    write_events(5)
    assert "checked 5 events from the beginning" in run("audit", "verify").output
    write_events(2)
    result = run("audit", "verify", "--since-checkpoint")
    # the first verification's own event and the two new ones
    assert result.exit_code == 0 and "checked 3 events from the checkpoint at seq 5" in result.output


def test_cli_export_jsonl_and_csv(run, write_events, tmp_path, db):
    write_events(3, actor="alice")
    write_events(2, actor="bob")
    result = run("audit", "export", "--actor", "bob")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["actor"] for line in lines] == ["bob", "bob"]
    out = tmp_path / "all.csv"
    result = run("audit", "export", "--format", "csv", "-o", str(out))
    assert out.read_text().count("\n") == 1 + 5 + 2  # header, events, and both exports (recorded first)
    exports = db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).all()
    assert len(exports) == 2 and exports[0].actor == "cli"


def test_cli_export_rejects_a_bad_time(run):
    result = CliRunner().invoke(main, ["audit", "export", "--since", "soon"])
    assert result.exit_code == 2 and "ISO 8601" in result.output


@pytest.fixture
def write_old(db, monkeypatch):
    """Write events as if ``days`` ago (the clock record() reads is moved)."""
    from portal import clock

    real = clock.utcnow

    def write(count: int, days: float) -> None:
        moment = datetime.now(UTC) - timedelta(days=days)
        monkeypatch.setattr(clock, "utcnow", lambda: moment)
        for i in range(count):
            record(db, Actor("old"), Event(action="customer.lookup", details={"i": i}))
        db.commit()
        monkeypatch.setattr(clock, "utcnow", real)

    return write


def test_retention_archives_prunes_and_the_rest_verifies(db, write_old, write_events, tmp_path):
    write_old(6, days=400)
    write_events(4)
    done = retention.archive_before(db, datetime.now(UTC) - timedelta(days=365), tmp_path)
    assert done.count == 6 and done.first_seq == 1 and done.seq == 6
    remaining = [e.seq for e in db.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert remaining == [7, 8, 9, 10, 11]  # 11: the audit.prune event itself
    anchor = db.scalars(select(AuditAnchor)).one()
    assert anchor.seq == 6 and anchor.hash == done.hash
    report = query.verify(db)
    assert report.ok and report.anchor_seq == 6 and report.checked == 5
    archive = retention.verify_archive(done.archive)
    assert archive["ok"] and archive["count"] == 6 and archive["sha256"] == anchor.archive_sha256
    nothing = retention.archive_before(db, datetime.now(UTC) - timedelta(days=365), tmp_path)
    assert nothing is None


def test_an_altered_archive_is_detected(db, write_old, tmp_path):
    write_old(3, days=100)
    done = retention.archive_before(db, datetime.now(UTC) - timedelta(days=30), tmp_path)
    path = tmp_path / done.archive.split("/")[-1]
    lines = path.read_text().splitlines()
    event = json.loads(lines[2])
    event["actor"] = "someone-else"
    lines[2] = json.dumps(event)
    path.write_text("\n".join(lines) + "\n")
    report = retention.verify_archive(path)
    assert not report["ok"] and "seq 2 was modified" in report["problems"][0]


def test_retention_refuses_a_broken_chain(db, write_old, tamper, tmp_path):
    from portal.errors import Conflict

    write_old(3, days=100)
    tamper("UPDATE audit_events SET actor = 'x' WHERE seq = 2")
    with pytest.raises(Conflict):
        retention.archive_before(db, datetime.now(UTC) - timedelta(days=30), tmp_path)


def test_database_refuses_deleting_unarchived_events_even_during_a_prune(db, write_events):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    write_events(2)
    with pytest.raises(DBAPIError):  # the trigger's refusal: IntegrityError (SQLite), InternalError (PostgreSQL)
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("SET LOCAL portal.audit_prune = 'on'"))
        db.execute(text("DELETE FROM audit_events WHERE seq = 1"))
    db.rollback()


def test_cli_prune(run, write_old, tmp_path):
    write_old(2, days=50)
    result = run("audit", "prune", "--days", "30", "--archive-dir", str(tmp_path / "arch"))
    assert "archived 2 events (seq 1..2)" in result.output
    assert run("audit", "verify").exit_code == 0
    assert "nothing to archive" in run("audit", "prune", "--days", "30", "--archive-dir", str(tmp_path)).output
    [archive] = (tmp_path / "arch").glob("audit-*.jsonl")
    result = run("audit", "verify-archive", str(archive))
    assert result.exit_code == 0 and "2 events, anchor seq 2" in result.output and "archive OK" in result.output
    archive.write_text(archive.read_text().replace('"old"', '"new"', 1))
    result = CliRunner().invoke(main, ["audit", "verify-archive", str(archive)])
    assert result.exit_code == 1 and "was modified" in result.output


def test_forwarding_to_a_file_after_commit_only(settings_overrides, tmp_path):
    from portal import create_app, migrate
    from portal.db import get_database

    target = tmp_path / "siem" / "audit.jsonl"
    app = create_app({**settings_overrides, "audit_forward": f"file:{target}"})
    with app.app_context():
        migrate.upgrade(get_database().engine)
        with get_database().session() as session:
            record(session, Actor("alice"), Event(action="customer.lookup", customer="13800000000"))
            session.rollback()
            record(session, Actor("alice"), Event(action="customer.reveal", customer="13800000000"))
            session.commit()
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["customer.reveal"]
    assert lines[0]["hash"] and lines[0]["occurred_at"].endswith("Z")
    app.extensions["portal.db"].dispose()


def test_a_bad_forwarding_setting_is_refused(settings_overrides):
    from portal import create_app
    from portal.errors import ConfigError

    with pytest.raises(ConfigError):
        create_app({**settings_overrides, "audit_forward": "kafka://x"})


def test_statistics_and_outliers(db, monkeypatch):
    # Five agents with ordinary days; "eve" looks up far more customers, reveals a lot, at night.
    day = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
    from portal import clock

    real = clock.utcnow

    def at(moment):
        monkeypatch.setattr(clock, "utcnow", lambda: moment)

    try:
        for n, name in enumerate(["ann", "ben", "cy", "dee", "fay"]):
            for i in range(20 + n):
                at(day + timedelta(minutes=i))
                record(db, Actor(name), Event(action="customer.lookup", customer=f"1380000{i:04d}",
                                              details={"systems": {"boss": "ok"}, "latency_ms": {"boss": 50}}))
        for i in range(150):
            at(day.replace(hour=2) + timedelta(seconds=i))
            record(db, Actor("eve"), Event(action="customer.reveal" if i % 2 else "customer.lookup",
                                           customer=f"1390000{i:04d}"))
        at(day)
        record(db, Actor("-"), Event(action="auth.login_failed", outcome="failure", target="eve"))
        db.commit()
    finally:
        monkeypatch.setattr(clock, "utcnow", real)
    window = stats.Window.from_args({})
    by_actor = {r["key"]: r["count"] for r in stats.operations(db, window, "actor")}
    assert by_actor["eve"] == 150 and by_actor["ann"] == 20
    hours = stats.operations(db, window, "hour")
    assert len(hours) == 24 and hours[2]["count"] == 150
    assert stats.logins(db, window)["failed"] == 1
    boss = stats.lookups_by_system(db, window)[0]
    assert boss["system"] == "boss" and boss["statuses"] == {"ok": 110} and boss["mean_ms"] == 50.0
    flagged = stats.outliers(db, window)
    assert [f["actor"] for f in flagged] == ["eve"]
    assert {r["measure"] for r in flagged[0]["reasons"]} >= {"operations", "reveals", "off_hours"}
    with pytest.raises(query.InvalidFilter):
        stats.operations(db, window, "colour")


def test_stats_api(client, make_user, login, db):
    make_user("audrey", "auditor")
    login("audrey")
    record(db, Actor("ann"), Event(action="customer.lookup", details={"systems": {"boss": "timeout"}}))
    db.commit()
    overview = client.get("/api/v1/stats").get_json()
    assert overview["total"] >= 1 and overview["lookups"][0]["statuses"] == {"timeout": 1}
    assert client.get("/api/v1/stats/operations?by=system").get_json()["counts"] == [{"key": "boss", "count": 1}]
    assert client.get("/api/v1/stats/operations?by=colour").status_code == 400
    assert client.get("/api/v1/stats?since=garbage").status_code == 400
    assert "operators" in client.get("/api/v1/stats/outliers").get_json()


def test_forwarding_to_syslog_over_udp(settings_overrides):
    import socket

    from portal import create_app, migrate
    from portal.db import get_database

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    port = server.getsockname()[1]
    app = create_app({**settings_overrides, "audit_forward": f"syslog:127.0.0.1:{port}"})
    try:
        with app.app_context():
            migrate.upgrade(get_database().engine)
            with get_database().session() as session:
                record(session, Actor("alice"), Event(action="system.open", target="boss", customer="13800000000"))
                session.commit()
        message = server.recv(65536).decode("utf-8")
    finally:
        server.close()
        app.extensions["portal.db"].dispose()
    assert "portal-audit: " in message
    document = json.loads(message.split("portal-audit: ", 1)[1].rstrip("\x00"))
    assert document["action"] == "system.open" and document["target"] == "boss"


def test_an_unwritable_log_stops_the_change_over_http(app, client, make_user, db):
    from sqlalchemy import text

    from portal.accounts.service import issue_token

    make_user("root", "admin")
    _, value = issue_token(db, "root")
    db.commit()
    db.execute(text("ALTER TABLE audit_chain_head RENAME TO audit_chain_head_gone"))
    db.commit()
    try:
        response = client.post("/api/v1/users", json={"username": "ghost", "display_name": "G", "roles": ["agent"]},
                               headers={"Authorization": f"Bearer {value}"})
    finally:
        db.execute(text("ALTER TABLE audit_chain_head_gone RENAME TO audit_chain_head"))
        db.commit()
    assert response.status_code == 503
    assert response.get_json()["code"] == "audit_unavailable"
    assert client.get("/api/v1/users/ghost", headers={"Authorization": f"Bearer {value}"}).status_code == 404
