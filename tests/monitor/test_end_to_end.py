"""The whole monitor against the simulated back office, a real SMTP server and a real SMS gateway.

The issue's acceptance: two ``portal monitor`` processes share one database (and, in the second
variant, one Redis for the lease); a simulated system goes down and comes back; each recipient gets
exactly one "down" and one "recovered" message on each channel. Then the acting monitor is killed
and the other takes over. In-process tests below drive the same loop tick by tick: flapping inside
the hysteresis sends nothing, and a maintenance window silences a real outage until it ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.monitor.models import HealthCheck, MonitorLease, SystemHealth
from tests.monitor.receivers import alert_environment, alert_overrides

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.backoffice

ADMIN_MAIL, ADMIN_PHONE = "root@example.test", "+8613900000001"
OWNER_MAIL, OWNER_PHONE = "bill@example.test", "+8613900000002"
RECIPIENTS = {"email": {ADMIN_MAIL, OWNER_MAIL}, "sms": {ADMIN_PHONE, OWNER_PHONE}}
WAIT_S = 40.0


@pytest.fixture
def adapters_dir(tmp_path, demo_adapters_dir):
    """BOSS (SOAP: probed by fetching its WSDL) and the SMS centre (socket: probed by connecting)."""
    directory = tmp_path / "adapters"
    directory.mkdir()
    for name in ("boss.toml", "smsc.toml"):
        shutil.copy(demo_adapters_dir / name, directory / name)
    return directory


@pytest.fixture
def settings_overrides(settings_overrides, adapters_dir, smtp_receiver, sms_receiver):
    return {**settings_overrides, **alert_overrides(smtp_receiver, sms_receiver), **FAST,
            "adapters_dir": str(adapters_dir)}


FAST = {"monitor_interval_s": 1.0, "monitor_tick_s": 0.2, "monitor_down_after": 2, "monitor_up_after": 2,
        "monitor_lease_s": 3.0}


@pytest.fixture
def people(app, db):
    """An admin and BOSS's owner, with addresses; an agent with addresses who must hear nothing."""
    from portal.accounts.service import create_user

    for username, role, teams, mail, phone in [
        ("root", "admin", [], ADMIN_MAIL, ADMIN_PHONE),
        ("bill", "system_owner", ["billing-team"], OWNER_MAIL, OWNER_PHONE),
        ("alice", "agent", ["billing-team"], "alice@example.test", "+8613900000003"),
    ]:
        user = create_user(db, username, "correct horse battery", [role], teams=teams)
        user.email, user.phone = mail, phone
    db.commit()


def poll(condition, what: str, seconds: float = WAIT_S):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds:g} s")


def state_of(db, system_id: str) -> str | None:
    db.expire_all()
    row = db.get(SystemHealth, system_id)
    db.rollback()  # end the read: SQLite must not see a snapshot older than the monitors' writes
    return row.state if row else None


def probes_of(db, system_id: str) -> int:
    count = db.scalar(select(func.count()).select_from(HealthCheck).where(HealthCheck.system_id == system_id))
    db.rollback()
    return count or 0


def deliveries(smtp, sms) -> Counter:
    """(channel, recipient, DOWN|RECOVERED) -> how many messages arrived."""
    seen: Counter = Counter()
    for mail in smtp.received:
        seen["email", mail.to, mail.subject.split(":")[0]] += 1
    for text in sms.received:
        seen["sms", text.fields["to"], "DOWN" if " is DOWN " in text.text else "RECOVERED"] += 1
    return seen


def expected(*kinds: str, times: int = 1) -> Counter:
    return Counter({(channel, recipient, kind): times for channel, addresses in RECIPIENTS.items()
                    for recipient in addresses for kind in kinds})


# --- two monitor processes ----------------------------------------------------------------------------


def start_monitor(environment: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = log_path.open("wb")
    return subprocess.Popen([sys.executable, "-m", "portal.cli", "monitor"], env=environment,
                            stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def lease_holder_pid(app, db, redis_url: str | None) -> int | None:
    if redis_url:
        from portal.monitor.lease import RedisLease

        holder = RedisLease(redis_url, 3.0).current_holder()
    else:
        row = db.get(MonitorLease, "monitor")
        db.rollback()
        holder = row.holder if row and row.expires_at.replace(tzinfo=UTC) > datetime.now(UTC) \
            else None
    return int(holder.split(":")[1]) if holder else None


@pytest.fixture(params=["database", "redis"])
def lease_store(request, exclusive):
    """Where the monitors keep their lease: the shared database, or Redis (db 14, emptied)."""
    if request.param == "database":
        yield None
        return
    from tests.conftest import require_redis

    url = "redis://127.0.0.1:6379/14"
    client = require_redis(url)
    exclusive("redis-db-14")  # emptied here: no other test process may use it meanwhile
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def test_two_monitor_processes_send_one_down_and_one_recovered_message_per_recipient_and_channel(
        app, db, people, backoffice, smtp_receiver, sms_receiver, settings_overrides, adapters_dir, lease_store,
        tmp_path):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    environment.update(alert_environment(smtp_receiver, sms_receiver, **FAST))
    environment.update(PORTAL_DATABASE_URL=settings_overrides["database_url"],
                       PORTAL_DATA_DIR=str(tmp_path / "monitor-var"), PORTAL_SECRET_KEY="monitor-test-secret",
                       PORTAL_ADAPTERS_DIR=str(adapters_dir), PORTAL_LOG_LEVEL="INFO",
                       PORTAL_EGRESS_ALLOW=json.dumps(settings_overrides["egress_allow"]))
    if lease_store:
        environment["PORTAL_REDIS_URL"] = lease_store
    monitors = [start_monitor(environment, tmp_path / f"monitor-{n}.log") for n in (1, 2)]
    try:
        poll(lambda: state_of(db, "boss") == "up" and state_of(db, "smsc") == "up", "both systems up")
        leader = poll(lambda: lease_holder_pid(app, db, lease_store), "a monitor holds the lease")
        assert leader in {m.pid for m in monitors}

        backoffice.stop_system("boss")
        poll(lambda: state_of(db, "boss") == "down", "BOSS judged down")
        smtp_receiver.wait_for(2, timeout=WAIT_S)
        sms_receiver.wait_for(2, timeout=WAIT_S)
        backoffice.start_system("boss")
        poll(lambda: state_of(db, "boss") == "up", "BOSS judged up again")
        smtp_receiver.wait_for(4, timeout=WAIT_S)
        sms_receiver.wait_for(4, timeout=WAIT_S)
        # Several more probe rounds with both monitors running: still nothing more.
        settled = probes_of(db, "boss")
        poll(lambda: probes_of(db, "boss") >= settled + 4, "more probes of BOSS")
        assert deliveries(smtp_receiver, sms_receiver) == expected("DOWN", "RECOVERED")
        mail = next(m for m in smtp_receiver.received if m.subject.startswith("DOWN"))
        assert mail.subject == "DOWN: BOSS billing & CRM (boss)" and "is DOWN since" in mail.text
        assert state_of(db, "smsc") == "up"  # the other system never changed

        # The acting monitor dies without a word; the other takes over and tells of the next outage.
        acting = next(m for m in monitors if m.pid == leader)
        acting.kill()
        acting.wait()
        backoffice.stop_system("boss")
        smtp_receiver.wait_for(5, timeout=WAIT_S)
        sms_receiver.wait_for(5, timeout=WAIT_S)
        successor = poll(lambda: lease_holder_pid(app, db, lease_store), "the other monitor holds the lease")
        assert successor != leader and successor in {m.pid for m in monitors}
        smtp_receiver.wait_for(6, timeout=WAIT_S)
        sms_receiver.wait_for(6, timeout=WAIT_S)
        settled = probes_of(db, "boss")
        poll(lambda: probes_of(db, "boss") >= settled + 3, "more probes of BOSS")
        assert deliveries(smtp_receiver, sms_receiver) == expected("DOWN", times=2) + expected("RECOVERED")
    finally:
        backoffice.start_system("boss")
        codes = [stop(m) for m in monitors]
    assert codes.count(0) == 1  # the survivor stops cleanly on SIGTERM (the other was killed)
    db.expire_all()
    alerts = db.scalars(select(AuditEvent).where(AuditEvent.action == "monitor.alert")).all()
    assert sorted((e.details["kind"], e.details["channel"], e.outcome) for e in alerts) == sorted(
        [("down", "email", "sent"), ("down", "sms", "sent")] * 2 + [("recovered", "email", "sent"),
                                                                   ("recovered", "sms", "sent")])


# --- one monitor, tick by tick ------------------------------------------------------------------------


class Clock:
    """Monitor time: moves one probe interval per tick, so every tick probes every system."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def monitor(app):
    from portal.monitor.runner import Monitor

    clock = Clock()
    instance = Monitor.from_app(app, clock=clock)

    def tick(times: int = 1) -> None:
        for _ in range(times):
            clock.now += timedelta(seconds=FAST["monitor_interval_s"])
            result = instance.tick()
            assert result.leader and not result.errors, result.errors

    instance.step = tick
    yield instance
    instance.close()


def test_flapping_within_the_hysteresis_sends_nothing(app, db, people, backoffice, monitor, smtp_receiver,
                                                       sms_receiver):
    monitor.step(2)
    assert state_of(db, "boss") == "up"
    for _ in range(4):  # down for one probe, up for the next: never two failures in a row
        backoffice.stop_system("boss")
        monitor.step()
        backoffice.start_system("boss")
        monitor.step()
    assert state_of(db, "boss") == "up"
    assert smtp_receiver.received == [] and sms_receiver.received == []
    failures = db.scalar(select(func.count()).select_from(HealthCheck).where(HealthCheck.system_id == "boss",
                                                                          HealthCheck.ok.is_(False)))
    assert failures == 4  # every blip was seen and recorded, none announced


def test_a_maintenance_window_silences_an_outage_until_it_ends(app, db, people, backoffice, monitor,
                                                                smtp_receiver, sms_receiver, client, login, csrf):
    monitor.step(2)
    login("bill")  # BOSS's owner plans the outage on the monitor page
    page = client.get("/monitor/systems/boss")
    opened = client.post("/monitor/maintenance", data={
        "csrf_token": csrf(page.get_data(as_text=True)), "system_id": "boss",
        "ends_at": (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "database upgrade"}, follow_redirects=True)
    assert opened.status_code == 200 and "database upgrade" in opened.get_data(as_text=True)

    backoffice.stop_system("boss")
    monitor.step(3)
    assert state_of(db, "boss") == "down"
    assert smtp_receiver.received == [] and sms_receiver.received == []
    silenced = db.scalars(select(AuditEvent).where(AuditEvent.action == "monitor.alert")).all()
    assert {(e.details["channel"], e.outcome) for e in silenced} == {("email", "silenced"), ("sms", "silenced")}

    # The work overruns: the owner ends the window while BOSS is still down, and people are told now.
    window = client.get("/api/v1/monitor/maintenance").get_json()["windows"][0]
    page = client.get("/monitor/systems/boss")
    ended = client.post(f"/monitor/maintenance/{window['id']}/cancel",
                        data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert ended.status_code in (302, 303)
    monitor.step()
    smtp_receiver.wait_for(2)
    sms_receiver.wait_for(2)
    assert deliveries(smtp_receiver, sms_receiver) == expected("DOWN")
