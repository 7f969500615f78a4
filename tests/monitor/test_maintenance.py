"""Maintenance windows: who may open and cancel them, what is rejected, what the audit log says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.accounts.service import Operator, create_user
from portal.audit.models import AuditEvent
from portal.audit.record import Actor
from portal.errors import Conflict, InvalidDocument, PermissionDenied, ResourceNotFound
from portal.monitor import maintenance
from portal.monitor.systems import SystemInfo
from tests.conftest import PASSWORD

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SYSTEMS = {
    "boss": SystemInfo("boss", "BOSS billing & CRM", "billing-team"),
    "smsc": SystemInfo("smsc", "SMS centre", "messaging-team"),
}


@pytest.fixture
def operator(db):
    def make(username: str, *roles: str, teams: tuple[str, ...] = ()) -> Operator:
        user = create_user(db, username, PASSWORD, list(roles), teams=list(teams))
        db.commit()
        return Operator.of(user)

    return make


def open_window(db, who: Operator, system_id: str = "boss", **changes):
    values = {"system_id": system_id, "starts_at": NOW, "ends_at": NOW + timedelta(hours=2),
              "reason": "database upgrade", "now": NOW, **changes}
    return maintenance.create(db, who, Actor(who.username, who.roles), SYSTEMS, **values)


def events(db, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_admin_opens_a_window_for_any_system_and_for_all(db, operator):
    admin = operator("root", "admin")
    window = open_window(db, admin, "smsc")
    everything = open_window(db, admin, "*", reason="data-centre move")

    assert maintenance.silenced(db, "smsc", NOW + timedelta(minutes=5)).id == window.id
    assert maintenance.silenced(db, "boss", NOW + timedelta(minutes=5)).id == everything.id
    assert maintenance.silenced(db, "boss", NOW + timedelta(hours=3)) is None
    [created, _] = events(db, "monitor.maintenance_create")
    assert created.actor == "root" and created.target == "smsc"
    assert created.details["before"] is None
    assert created.details["after"]["reason"] == "database upgrade"
    assert created.details["after"]["ends_at"] == "2026-11-24T14:00:00Z"


def test_owner_manages_only_their_teams_systems(db, operator):
    owner = operator("bob", "system_owner", teams=("billing-team",))
    window = open_window(db, owner, "boss")
    assert window.created_by == "bob"

    with pytest.raises(PermissionDenied, match="billing-team"):
        open_window(db, owner, "smsc")
    with pytest.raises(PermissionDenied, match=r"monitor\.manage"):
        open_window(db, owner, "*")
    assert maintenance.may_manage(owner, SYSTEMS, "boss") and not maintenance.may_manage(owner, SYSTEMS, "smsc")

    admin_window = open_window(db, operator("root", "admin"), "smsc")
    with pytest.raises(PermissionDenied):
        maintenance.cancel(db, owner, Actor("bob"), SYSTEMS, admin_window.id, now=NOW)
    assert len(events(db, "monitor.maintenance_create")) == 2


def test_agent_may_do_nothing(db, operator):
    agent = operator("alice", "agent")
    with pytest.raises(PermissionDenied):
        open_window(db, agent, "boss")
    window = open_window(db, operator("root", "admin"), "boss")
    with pytest.raises(PermissionDenied):
        maintenance.cancel(db, agent, Actor("alice"), SYSTEMS, window.id, now=NOW)
    assert maintenance.silenced(db, "boss", NOW) is not None


@pytest.mark.parametrize("changes, key", [
    ({"system_id": "nosuch"}, "system_id"),
    ({"ends_at": NOW}, "ends_at"),
    ({"ends_at": NOW - timedelta(hours=1)}, "ends_at"),
    ({"ends_at": NOW + timedelta(days=7, minutes=1)}, "ends_at"),
    ({"starts_at": NOW - timedelta(minutes=5)}, "starts_at"),
    ({"starts_at": "yesterday-ish"}, "starts_at"),
    ({"ends_at": "2026-13-01T00:00"}, "ends_at"),
    ({"reason": "   "}, "reason"),
    ({"reason": "x" * 301}, "reason"),
])
def test_invalid_windows_name_the_key(db, operator, changes, key):
    admin = operator("root", "admin")
    with pytest.raises(InvalidDocument) as caught:
        open_window(db, admin, **changes)
    assert caught.value.key == key
    assert events(db, "monitor.maintenance_create") == []


def test_times_as_iso_text_and_a_start_a_moment_ago(db, operator):
    admin = operator("root", "admin")
    window = open_window(db, admin, starts_at=(NOW - timedelta(seconds=30)).isoformat(),
                         ends_at="2026-11-24T13:00Z")
    assert maintenance.window_document(window, NOW)["status"] == "current"
    week = open_window(db, admin, starts_at=None, ends_at=NOW + timedelta(days=7))
    assert maintenance.window_status(week, NOW) == "current"


def test_cancel_ends_the_silence_and_is_audited(db, operator):
    owner = operator("bob", "system_owner", teams=("billing-team",))
    window = open_window(db, owner, "boss")
    later = NOW + timedelta(minutes=30)

    maintenance.cancel(db, owner, Actor("bob"), SYSTEMS, window.id, now=later)

    assert maintenance.silenced(db, "boss", later + timedelta(seconds=1)) is None
    [event] = events(db, "monitor.maintenance_cancel")
    assert event.actor == "bob" and event.target == "boss"
    assert event.details["before"]["status"] == "current" and event.details["before"]["cancelled_by"] is None
    assert event.details["after"]["status"] == "cancelled" and event.details["after"]["cancelled_by"] == "bob"
    with pytest.raises(Conflict, match="cancelled"):
        maintenance.cancel(db, owner, Actor("bob"), SYSTEMS, window.id, now=later)
    with pytest.raises(ResourceNotFound):
        maintenance.cancel(db, owner, Actor("bob"), SYSTEMS, 99999, now=later)


def test_an_ended_window_cannot_be_cancelled(db, operator):
    admin = operator("root", "admin")
    window = open_window(db, admin)
    with pytest.raises(Conflict, match="ended"):
        maintenance.cancel(db, admin, Actor("root"), SYSTEMS, window.id, now=NOW + timedelta(hours=3))


def test_listing_current_upcoming_and_past(db, operator):
    admin = operator("root", "admin")
    current = open_window(db, admin, "boss")
    upcoming = open_window(db, admin, "smsc", starts_at=NOW + timedelta(hours=1), ends_at=NOW + timedelta(hours=4))
    cancelled = open_window(db, admin, "smsc", reason="abandoned plan")
    maintenance.cancel(db, admin, Actor("root"), SYSTEMS, cancelled.id, now=NOW)
    later = NOW + timedelta(minutes=10)

    assert [w.id for w in maintenance.list_windows(db, now=later)] == [current.id, upcoming.id]
    assert [w.id for w in maintenance.list_windows(db, system_id="smsc", now=later)] == [upcoming.id]
    every = maintenance.list_windows(db, include_past=True, now=later)
    assert [w.id for w in every] == [current.id, upcoming.id, cancelled.id]
    assert [maintenance.window_document(w, later)["status"] for w in every] == ["current", "upcoming", "cancelled"]


def test_cli_adds_lists_and_cancels(app, db, operator):
    from portal.monitor.maintenance_cli import maintenance as group

    operator("bob", "system_owner", teams=("billing-team",))
    runner = app.test_cli_runner()

    added = runner.invoke(group, ["add", "boss", "--for", "2h", "--reason", "failover test", "--as", "bob"])
    assert added.exit_code == 0, added.output
    window_id = int(added.output.split()[1].rstrip(":"))

    refused = runner.invoke(group, ["add", "smsc", "--for", "1h", "--reason", "x", "--as", "bob"])
    assert refused.exit_code != 0 and "billing-team" in refused.output
    both = runner.invoke(group, ["add", "boss", "--for", "1h", "--until", "2030-01-01T00:00Z", "--reason", "x",
                                 "--as", "bob"])
    assert both.exit_code != 0 and "exactly one" in both.output
    bad = runner.invoke(group, ["add", "boss", "--for", "soon", "--reason", "x", "--as", "bob"])
    assert bad.exit_code != 0 and "2h" in bad.output

    listed = runner.invoke(group, ["list"])
    assert "boss" in listed.output and "current" in listed.output and "failover test" in listed.output

    cancelled = runner.invoke(group, ["cancel", str(window_id), "--as", "bob"])
    assert cancelled.exit_code == 0, cancelled.output
    assert "no maintenance windows" in runner.invoke(group, ["list"]).output
    assert "cancelled" in runner.invoke(group, ["list", "--all"]).output
    db.expire_all()
    assert [e.actor for e in events(db, "monitor.maintenance_cancel")] == ["bob"]
