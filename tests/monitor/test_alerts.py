"""Alerts end to end: state rows as the monitor leaves them -> dispatch -> what real receivers got."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.accounts.service import create_user
from portal.audit.models import AuditEvent
from portal.config import Settings
from portal.monitor.alerts import AlertDispatcher
from portal.monitor.models import Alert, MaintenanceWindow, StateTransition, SystemHealth
from portal.monitor.systems import SystemInfo
from tests.conftest import PASSWORD
from tests.monitor.receivers import alert_overrides

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
SYSTEMS = {
    "boss": SystemInfo("boss", "BOSS billing & CRM", "billing-team"),
    "smsc": SystemInfo("smsc", "SMS centre", "messaging-team"),
}
ADMIN_MAIL, OWNER_MAIL = "root@ops.example", "bob@billing.example"
ADMIN_PHONE, OWNER_PHONE = "+8613800000001", "+8613800000002"


@pytest.fixture
def people(db):
    """An admin and boss's owner with mail and phone; people who must never be told."""
    def user(username, roles, email=None, phone=None, teams=(), enabled=True):
        row = create_user(db, username, PASSWORD, roles, teams=list(teams))
        row.email, row.phone, row.enabled = email, phone, enabled
        return row

    user("root", ["admin"], ADMIN_MAIL, ADMIN_PHONE)
    user("bob", ["system_owner"], OWNER_MAIL, OWNER_PHONE, teams=("billing-team",))
    user("carol", ["system_owner"], "carol@sms.example", "+8613800000003", teams=("messaging-team",))
    user("alice", ["agent"], "alice@desk.example", "+8613800000004", teams=("billing-team",))
    user("gone", ["admin"], "gone@ops.example", "+8613800000005", enabled=False)
    db.commit()


@pytest.fixture
def dispatcher(smtp_receiver, sms_receiver):
    def make(**more) -> AlertDispatcher:
        return AlertDispatcher(Settings(**alert_overrides(smtp_receiver, sms_receiver, **more)))

    return make


def move(db, system_id: str, state: str, at: datetime, reason: str = "connection refused") -> StateTransition:
    """Do what the monitor does on a change of state: a transition row and the current state."""
    health = db.get(SystemHealth, system_id)
    if health is None:
        health = SystemHealth(system_id=system_id, state="up", since=T0 - timedelta(days=1), alerted_state="up")
        db.add(health)
    change = StateTransition(system_id=system_id, at=at, from_state=health.state, to_state=state, reason=reason)
    db.add(change)
    db.flush()
    health.state, health.since, health.reason, health.transition_id = state, at, reason, change.id
    db.commit()
    return change


def alert_events(db) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == "monitor.alert").order_by(AuditEvent.seq)))


def rows(db, transition: StateTransition) -> dict[tuple[str, str], Alert]:
    db.expire_all()
    return {(a.channel, a.recipient): a for a in db.scalars(select(Alert).where(Alert.transition_id == transition.id))}


def by_recipient(mails) -> dict[str, int]:
    counts: dict[str, int] = {}
    for mail in mails:
        counts[mail.to] = counts.get(mail.to, 0) + 1
    return counts


def test_down_alert_reaches_admins_and_owners_once_per_channel(db, people, dispatcher, smtp_receiver, sms_receiver):
    down = move(db, "boss", "down", T0, reason="connect to 127.0.0.1:8201 refused")
    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(seconds=5))

    mails = smtp_receiver.wait_for(2)
    assert by_recipient(mails) == {ADMIN_MAIL: 1, OWNER_MAIL: 1}
    for mail in mails:
        assert mail.subject == "DOWN: BOSS billing & CRM (boss)"
        assert mail.text.strip() == ("BOSS billing & CRM (boss) is DOWN since 2026-11-24T08:00Z: "
                                     "connect to 127.0.0.1:8201 refused")
    texts = sms_receiver.wait_for(2)
    assert sorted(r.fields["to"] for r in texts) == [ADMIN_PHONE, OWNER_PHONE]
    assert all("BOSS billing & CRM (boss) is DOWN" in r.text for r in texts)

    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(seconds=10))  # the next tick: nothing new
    assert len(smtp_receiver.received) == 2 and len(sms_receiver.received) == 2

    assert {key: (row.status, row.attempts) for key, row in rows(db, down).items()} == {
        ("email", ADMIN_MAIL): ("sent", 1), ("email", OWNER_MAIL): ("sent", 1),
        ("sms", ADMIN_PHONE): ("sent", 1), ("sms", OWNER_PHONE): ("sent", 1)}
    events = alert_events(db)
    assert [(e.target, e.outcome, e.details["channel"], e.details["count"]) for e in events] == [
        ("boss", "sent", "email", 2), ("boss", "sent", "sms", 2)]
    assert events[0].actor == "monitor"
    assert events[0].details["kind"] == "down" and events[0].details["transition_id"] == down.id
    assert sorted(events[0].details["recipients"]) == sorted([ADMIN_MAIL, OWNER_MAIL])


def test_recovery_sends_one_recovered_message_with_the_duration(db, people, dispatcher, smtp_receiver, sms_receiver):
    move(db, "boss", "down", T0)
    dispatcher().dispatch(db, SYSTEMS, T0)
    move(db, "boss", "up", T0 + timedelta(minutes=12, seconds=30), reason="answers again")
    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=13))
    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=14))

    recovered = [m for m in smtp_receiver.wait_for(4) if m.subject.startswith("RECOVERED")]
    assert by_recipient(recovered) == {ADMIN_MAIL: 1, OWNER_MAIL: 1}
    assert recovered[0].text.strip() == (
        "BOSS billing & CRM (boss) has RECOVERED at 2026-11-24T08:12Z after 12 min 30 s down")
    assert len([r for r in sms_receiver.wait_for(4) if "RECOVERED" in r.text]) == 2
    assert len(smtp_receiver.received) == 4 and len(sms_receiver.received) == 4
    assert [e.details["kind"] for e in alert_events(db)] == ["down", "down", "recovered", "recovered"]


def test_degraded_and_a_system_never_down_are_not_announced(db, people, dispatcher, smtp_receiver, sms_receiver):
    move(db, "boss", "degraded", T0, reason="slow answers")
    dispatcher().dispatch(db, SYSTEMS, T0)
    move(db, "boss", "up", T0 + timedelta(minutes=5))
    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=5))
    assert smtp_receiver.received == [] and sms_receiver.received == [] and alert_events(db) == []


def test_a_maintenance_window_silences_and_a_system_still_down_is_announced_when_it_ends(
        db, people, dispatcher, smtp_receiver, sms_receiver):
    db.add(MaintenanceWindow(system_id="boss", starts_at=T0, ends_at=T0 + timedelta(hours=1),
                             reason="upgrade", created_by="root"))
    db.commit()
    down = move(db, "boss", "down", T0 + timedelta(minutes=1))
    for minute in (2, 3, 30):
        dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=minute))
    assert smtp_receiver.received == [] and sms_receiver.received == []
    assert {row.status for row in rows(db, down).values()} == {"silenced"}
    assert [(e.outcome, e.details["channel"], e.details["count"]) for e in alert_events(db)] == [
        ("silenced", "email", 2), ("silenced", "sms", 2)]

    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=61))  # the window is over; still down
    assert by_recipient(smtp_receiver.wait_for(2)) == {ADMIN_MAIL: 1, OWNER_MAIL: 1}
    assert "61 min" not in smtp_receiver.received[0].text  # {since} is when it went down
    assert len(sms_receiver.wait_for(2)) == 2
    assert {row.status for row in rows(db, down).values()} == {"sent"}


def test_down_and_up_inside_a_window_is_never_announced(db, people, dispatcher, smtp_receiver, sms_receiver):
    db.add(MaintenanceWindow(system_id="*", starts_at=T0, ends_at=T0 + timedelta(hours=1),
                             reason="data-centre move", created_by="root"))
    db.commit()
    move(db, "boss", "down", T0 + timedelta(minutes=1))
    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=2))
    move(db, "boss", "up", T0 + timedelta(minutes=20))
    for minute in (21, 61, 62):
        dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=minute))
    assert smtp_receiver.received == [] and sms_receiver.received == []
    assert {e.outcome for e in alert_events(db)} == {"silenced"}


def test_rate_limit_per_system_and_channel(db, people, dispatcher, smtp_receiver, sms_receiver):
    at = T0
    for _ in range(2):  # down, up, down, up: four messages per recipient and channel
        for state in ("down", "up"):
            move(db, "boss", state, at)
            dispatcher(alerts_max_per_hour=3).dispatch(db, SYSTEMS, at)
            at += timedelta(minutes=5)

    assert by_recipient(smtp_receiver.received) == {ADMIN_MAIL: 3, OWNER_MAIL: 3}
    assert len(sms_receiver.received) == 6
    [limited_email, limited_sms] = [e for e in alert_events(db) if e.outcome == "rate_limited"]
    assert limited_email.details["channel"] == "email" and limited_email.details["count"] == 2
    assert limited_email.details["kind"] == "recovered" and "3 messages" in limited_email.details["reason"]

    at += timedelta(hours=1)  # an hour later the limit has room again
    move(db, "boss", "down", at)
    dispatcher(alerts_max_per_hour=3).dispatch(db, SYSTEMS, at)
    assert by_recipient(smtp_receiver.received) == {ADMIN_MAIL: 4, OWNER_MAIL: 4}


def test_smtp_down_fails_then_the_retry_delivers(db, people, dispatcher, smtp_receiver, sms_receiver):
    smtp_receiver.stop()
    down = move(db, "boss", "down", T0)
    dispatcher().dispatch(db, SYSTEMS, T0)

    failed = rows(db, down)
    assert {(failed[("email", a)].status, failed[("email", a)].attempts) for a in (ADMIN_MAIL, OWNER_MAIL)} == {
        ("failed", 1)}
    assert "cannot connect" in failed[("email", ADMIN_MAIL)].error
    assert failed[("sms", ADMIN_PHONE)].status == "sent" and len(sms_receiver.received) == 2

    smtp_receiver.start()
    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(seconds=30))
    assert by_recipient(smtp_receiver.wait_for(2)) == {ADMIN_MAIL: 1, OWNER_MAIL: 1}
    assert {(r.status, r.attempts) for (channel, _), r in rows(db, down).items() if channel == "email"} == {("sent", 2)}
    assert len(sms_receiver.received) == 2
    assert [(e.outcome, e.details["channel"]) for e in alert_events(db)] == [
        ("failed", "email"), ("sent", "sms"), ("sent", "email")]


def test_three_failed_attempts_then_abandoned(db, people, dispatcher, smtp_receiver, sms_receiver):
    smtp_receiver.stop()
    down = move(db, "boss", "down", T0)
    for tick in range(5):
        dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(seconds=30 * tick))
    emails = [r for (channel, _), r in rows(db, down).items() if channel == "email"]
    assert {(r.status, r.attempts) for r in emails} == {("abandoned", 3)}
    outcomes = [e for e in alert_events(db) if e.details["channel"] == "email"]
    assert [e.outcome for e in outcomes] == ["failed"] * 3
    assert sorted(outcomes[-1].details["abandoned"]) == sorted([ADMIN_MAIL, OWNER_MAIL])


def test_sms_gateway_error_is_recorded_with_its_status(db, people, dispatcher, sms_receiver):
    sms_receiver.status = 500
    down = move(db, "boss", "down", T0)
    dispatcher().dispatch(db, SYSTEMS, T0)
    row = rows(db, down)[("sms", OWNER_PHONE)]
    assert row.status == "failed" and "500" in row.error
    [event] = [e for e in alert_events(db) if e.details["channel"] == "sms"]
    assert event.outcome == "failed" and "500" in event.details["failed"][OWNER_PHONE]


def test_undelivered_news_is_not_sent_after_the_system_moved_on(db, people, dispatcher, smtp_receiver):
    smtp_receiver.stop()
    down = move(db, "boss", "down", T0)
    dispatcher().dispatch(db, SYSTEMS, T0)
    move(db, "boss", "up", T0 + timedelta(minutes=3))
    smtp_receiver.start()
    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=4))

    assert [m.subject.split(":")[0] for m in smtp_receiver.wait_for(2)] == ["RECOVERED", "RECOVERED"]
    assert {r.status for (channel, _), r in rows(db, down).items() if channel == "email"} == {"abandoned"}
    assert "superseded" in rows(db, down)[("email", ADMIN_MAIL)].error


def test_templates_and_sms_body_render(db, people, smtp_receiver, sms_receiver):
    settings = Settings(**alert_overrides(
        smtp_receiver, sms_receiver, alerts_sms_format="form", alerts_sms_token="gw-token",
        alerts_sms_body={"dest": "{phone}", "msg": "{text}", "tag": "{system}/{state}"},
        alerts_text_down="[{state}] {system_name} owned by {owner} since {since} ({duration}): {reason}"))
    move(db, "boss", "down", T0, reason="timeout after 2 s")
    AlertDispatcher(settings).dispatch(db, SYSTEMS, T0 + timedelta(minutes=2))

    request = sms_receiver.wait_for(2)[0]
    assert request.headers["authorization"] == "Bearer gw-token"
    assert request.fields["tag"] == "boss/down"
    assert request.fields["msg"] == ("[down] BOSS billing & CRM owned by billing-team since 2026-11-24T08:00Z "
                                     "(2 min 00 s): timeout after 2 s")
    assert smtp_receiver.wait_for(2)[0].text.strip() == request.fields["msg"]


def test_recipients_are_deduplicated_and_extras_added(db, people, smtp_receiver, sms_receiver):
    settings = Settings(**alert_overrides(smtp_receiver, sms_receiver, alerts_extra_emails=["NOC@ops.example",
                                                                                          "Root@Ops.example"],
                                          alerts_extra_phones=["+86 138 0000 0001"]))
    move(db, "smsc", "down", T0)
    AlertDispatcher(settings).dispatch(db, SYSTEMS, T0)
    assert by_recipient(smtp_receiver.wait_for(3)) == {ADMIN_MAIL: 1, "carol@sms.example": 1, "NOC@ops.example": 1}
    assert sorted(r.fields["to"] for r in sms_receiver.wait_for(2)) == [ADMIN_PHONE, "+8613800000003"]


def test_no_channel_configured_is_audited_once(db, people):
    down = move(db, "boss", "down", T0)
    for tick in range(3):
        AlertDispatcher(Settings()).dispatch(db, SYSTEMS, T0 + timedelta(seconds=tick))
    [event] = alert_events(db)
    assert (event.outcome, event.details["reason"], event.details["transition_id"]) == (
        "failure", "no alert channel configured", down.id)


def test_two_dispatchers_racing_send_each_message_once(app, db, people, dispatcher, smtp_receiver, sms_receiver,
                                                     caplog):
    move(db, "boss", "down", T0)
    database = app.extensions["portal.db"]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        session = database.session()
        try:
            mine = dispatcher()
            start.wait(timeout=10)
            for tick in range(3):
                mine.dispatch(session, SYSTEMS, T0 + timedelta(seconds=tick))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []

    assert by_recipient(smtp_receiver.wait_for(2)) == {ADMIN_MAIL: 1, OWNER_MAIL: 1}
    assert sorted(r.fields["to"] for r in sms_receiver.wait_for(2)) == [ADMIN_PHONE, OWNER_PHONE]
    assert len(smtp_receiver.received) == 2 and len(sms_receiver.received) == 2
    assert sorted((e.outcome, e.details["channel"]) for e in alert_events(db)) == [("sent", "email"), ("sent", "sms")]


class _Interrupting:
    """A channel that, before its first message goes out, lets another dispatcher run a whole tick."""

    def __init__(self, inner, meanwhile) -> None:
        self.inner, self.meanwhile, self.name = inner, meanwhile, inner.name
        self.done = False

    @property
    def configured(self) -> bool:
        return self.inner.configured

    def send(self, recipient, subject, text, **kwargs) -> None:
        if not self.done:
            self.done = True
            worker = threading.Thread(target=self.meanwhile)
            worker.start()
            worker.join(timeout=60)
            assert not worker.is_alive()
        self.inner.send(recipient, subject, text, **kwargs)


def test_a_dispatcher_never_sends_what_another_has_claimed(app, db, people, smtp_receiver, caplog):
    from portal.monitor.channels import EmailChannel

    settings = Settings(**alert_overrides(smtp_receiver))
    move(db, "boss", "down", T0)
    database = app.extensions["portal.db"]

    def other_monitor() -> None:  # runs while the first dispatcher holds its claims, mid-round
        with database.session() as session:
            AlertDispatcher(settings).dispatch(session, SYSTEMS, T0 + timedelta(seconds=1))

    channel = _Interrupting(EmailChannel(settings), other_monitor)
    AlertDispatcher(settings, channels=[channel]).dispatch(db, SYSTEMS, T0)

    assert channel.done
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []  # the other one ran cleanly
    assert by_recipient(smtp_receiver.wait_for(2)) == {ADMIN_MAIL: 1, OWNER_MAIL: 1}
    assert len(smtp_receiver.received) == 2
    assert [(e.outcome, e.details["count"]) for e in alert_events(db)] == [("sent", 2)]


def test_a_claim_left_by_a_dead_monitor_is_taken_over_later(db, people, dispatcher, smtp_receiver):
    down = move(db, "boss", "down", T0)
    health = db.get(SystemHealth, "boss")
    health.alerted_state = "down"  # the dead monitor planned it ...
    db.add(Alert(transition_id=down.id, system_id="boss", kind="down", channel="email", recipient=ADMIN_MAIL,
                 status="pending", attempts=1, created_at=T0, sent_at=T0))  # ... claimed it, and died
    db.commit()

    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=1))
    assert smtp_receiver.received == []  # it may still be sending
    dispatcher().dispatch(db, SYSTEMS, T0 + timedelta(minutes=11))
    assert by_recipient(smtp_receiver.wait_for(1)) == {ADMIN_MAIL: 1}
    assert (rows(db, down)[("email", ADMIN_MAIL)].status, rows(db, down)[("email", ADMIN_MAIL)].attempts) == ("sent", 2)


def test_prune_forgets_finished_alerts_after_the_history_days(db, people, dispatcher, smtp_receiver, sms_receiver):
    down = move(db, "boss", "down", T0)
    dispatcher().dispatch(db, SYSTEMS, T0)
    mine = dispatcher(monitor_history_days=7)
    assert mine.prune(db, T0 + timedelta(days=6)) == 0
    assert mine.prune(db, T0 + timedelta(days=8)) == 4
    db.commit()
    assert rows(db, down) == {}
