"""The monitor pages, as an admin or a system owner reads them at 3 a.m."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.monitor.models import Alert, HealthCheck, MaintenanceWindow, MonitorLease, StateTransition, SystemHealth
from tests.conftest import PASSWORD, csrf_token

HOSTILE = "<script>alert('owned')</script>"


def ago(**kwargs) -> datetime:
    return datetime.now(UTC) - timedelta(**kwargs)


def seed(db) -> None:
    """boss down (with a hostile error text), rbt degraded and in maintenance, smsc up with an hour of
    observations (latencies 1..100 ms, ten failed), everything else never checked."""
    db.add_all([
        SystemHealth(system_id="boss", state="down", since=ago(minutes=10), reason="3 failures in a row",
                     last_check_at=ago(seconds=20), last_error=f"connection refused {HOSTILE}", failures=3),
        SystemHealth(system_id="rbt", state="degraded", since=ago(minutes=30), reason="slow answers",
                     last_check_at=ago(seconds=5), last_latency_ms=2500),
        SystemHealth(system_id="smsc", state="up", since=ago(days=2), reason="answering",
                     last_check_at=ago(seconds=3), last_latency_ms=42, next_probe_at=ago(seconds=-27)),
    ])
    for i in range(1, 101):
        failed = i % 10 == 0
        db.add(HealthCheck(system_id="smsc", checked_at=ago(seconds=30 * i), source="lookup" if i % 2 else "connect",
                           ok=not failed, status="timeout" if failed else "ok", latency_ms=i,
                           error="no answer in time" if failed else None))
    db.add(HealthCheck(system_id="smsc", checked_at=ago(hours=2), source="connect", ok=True, status="ok",
                       latency_ms=99_999))  # outside the hour: must not count
    db.add(HealthCheck(system_id="boss", checked_at=ago(seconds=20), source="wsdl", ok=False, status="unavailable",
                       error=HOSTILE))
    transition = StateTransition(system_id="boss", at=ago(minutes=10), from_state="up", to_state="down",
                                 reason=f"3 failures in a row {HOSTILE}")
    db.add(transition)
    db.flush()
    db.add(Alert(transition_id=transition.id, system_id="boss", kind="down", channel="email",
                 recipient="ops@example.test", status="sent", attempts=1, sent_at=ago(minutes=9)))
    db.add(MaintenanceWindow(system_id="rbt", starts_at=ago(minutes=40), ends_at=ago(minutes=-20),
                             reason="ring-back tone platform upgrade", created_by="root"))
    db.commit()


def lease(db, *, renewed_s_ago: float, ttl_s: float = 30) -> None:
    renewed = ago(seconds=renewed_s_ago)
    db.add(MonitorLease(name="monitor", holder="host-a:4242:beef", acquired_at=renewed, renewed_at=renewed,
                        expires_at=renewed + timedelta(seconds=ttl_s)))
    db.commit()


@pytest.fixture
def admin(make_user, login):
    make_user("root", "admin")
    assert login("root").status_code == 302


def rows(html: str) -> list[str]:
    """System ids in the order of the page's table."""
    return re.findall(r'<a href="/monitor/systems/([a-z0-9_-]+)">', html)


def test_most_serious_first_with_state_reason_breaker_and_maintenance(client, db, admin):
    seed(db)
    html = client.get("/monitor").get_data(as_text=True)
    order = rows(html)
    # down, degraded, then the nine never checked (unknown), up last
    assert order[:2] == ["boss", "rbt"] and order[-1] == "smsc" and len(order) == 12
    assert "DOWN" in html and "3 failures in a row" in html
    assert "DEGRADED" in html and "in maintenance" in html and "ring-back tone platform upgrade" in html
    assert "closed" in html  # this instance's breaker
    assert "1 down" in html and "1 degraded" in html and "9 unknown" in html and "1 up" in html
    assert "<strong>Down:</strong> BOSS billing &amp; CRM</p>" in html
    assert "<strong>Degraded:</strong> Ring-back tone</p>" in html


def test_last_hour_percentiles_and_error_rate(client, db, admin):
    seed(db)
    html = client.get("/monitor").get_data(as_text=True)
    smsc = html[html.index('href="/monitor/systems/smsc"'):]
    smsc = smsc[:smsc.index("</tr>")]
    assert "50 / 95 / 99 ms" in smsc
    assert "10.0%" in smsc and "(10 of 100)" in smsc


def test_back_office_texts_are_escaped(client, db, admin):
    seed(db)
    for path in ("/monitor", "/monitor/systems/boss"):
        html = client.get(path).get_data(as_text=True)
        assert HOSTILE not in html, path
        assert "&lt;script&gt;" in html, path


def test_monitor_not_running_is_said_plainly(client, db, admin):
    html = client.get("/monitor").get_data(as_text=True)
    assert "Monitor not running" in html and "No monitor process has ever started" in html


def test_an_expired_lease_names_its_last_holder(client, db, admin):
    lease(db, renewed_s_ago=600)
    html = client.get("/monitor").get_data(as_text=True)
    assert "Monitor not running" in html and "host-a:4242:beef" in html


def test_a_fresh_lease_shows_the_monitor_running(client, db, admin):
    lease(db, renewed_s_ago=3)
    html = client.get("/monitor").get_data(as_text=True)
    assert "Monitor not running" not in html
    assert "running</span> on host-a:4242:beef" in html


def test_the_portal_panel_shows_database_redis_and_workers(client, admin):
    html = client.get("/monitor").get_data(as_text=True)
    panel = html[html.index("The portal itself"):]
    assert re.search(r"reachable</span> [\d.]+ ms round trip", panel)
    assert "not configured" in panel  # no Redis in these settings
    assert re.search(r"\d+ busy of \d+ started \(at most \d+\)", panel)


def test_system_page_has_errors_history_alerts_windows_and_a_chart(client, db, admin):
    seed(db)
    html = client.get("/monitor/systems/boss").get_data(as_text=True)
    assert "BOSS billing" in html
    assert "Recent errors" in html and "unavailable" in html
    assert "State history" in html and "state-down" in html
    assert "ops@example.test" in html and "sent" in html
    smsc = client.get("/monitor/systems/smsc").get_data(as_text=True)
    assert "<svg" in smsc and "Slowest answer per minute" in smsc
    assert "99999" not in smsc  # the two-hour-old observation is outside the chart's hour
    rbt = client.get("/monitor/systems/rbt").get_data(as_text=True)
    assert "ring-back tone platform upgrade" in rbt and ">active<" in rbt


def test_unknown_system_is_404(client, admin):
    assert client.get("/monitor/systems/nosuch").status_code == 404


def test_system_owner_reads_the_monitor_agent_does_not(client, make_user, login):
    make_user("owner", "system_owner")
    make_user("agent1", "agent")
    assert login("owner").status_code == 302
    page = client.get("/monitor")
    assert page.status_code == 200 and 'href="/monitor"' in page.get_data(as_text=True)
    client.get("/logout")
    assert login("agent1").status_code == 302
    assert client.get("/monitor").status_code == 403
    assert 'href="/monitor"' not in client.get("/").get_data(as_text=True)


def test_strangers_are_sent_to_sign_in(client):
    response = client.get("/monitor")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def form_token(client, path: str) -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")


def test_admin_silences_a_system_from_its_page_and_ends_the_window(client, db, admin):
    token = form_token(client, "/monitor/systems/boss")
    response = client.post("/monitor/maintenance", data={
        "csrf_token": token, "system_id": "boss", "ends_at": in_an_hour(), "reason": "BOSS <b>upgrade</b>",
        "back": "boss"})
    assert response.status_code == 302 and response.headers["Location"] == "/monitor/systems/boss"
    page = client.get("/monitor/systems/boss").get_data(as_text=True)
    assert "alerts about boss are silenced" in page
    assert "BOSS &lt;b&gt;upgrade&lt;/b&gt;" in page and ">active<" in page and "End now" in page
    overview = client.get("/monitor").get_data(as_text=True)
    assert "in maintenance" in overview
    window_id = db.scalars(select(MaintenanceWindow.id)).one()
    response = client.post(f"/monitor/maintenance/{window_id}/cancel", data={"csrf_token": token, "back": ""})
    assert response.status_code == 302 and response.headers["Location"] == "/monitor"
    assert "alerts flow again" in client.get("/monitor").get_data(as_text=True)
    assert db.scalars(select(MaintenanceWindow.cancelled_by)).one() == "root"


def test_an_invalid_window_is_refused_with_the_reason(client, db, admin):
    token = form_token(client, "/monitor")
    response = client.post("/monitor/maintenance", data={
        "csrf_token": token, "system_id": "boss", "ends_at": "tomorrow", "reason": "x"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "was not saved" in html and "ends_at" in html
    assert db.scalars(select(MaintenanceWindow)).all() == []


def test_a_form_without_its_csrf_token_is_refused(client, db, admin):
    response = client.post("/monitor/maintenance", data={"system_id": "boss", "ends_at": in_an_hour(), "reason": "x"})
    assert response.status_code == 400
    assert db.scalars(select(MaintenanceWindow)).all() == []


def test_owners_see_the_form_only_for_their_own_systems(client, db, login):
    from portal.accounts.service import create_user

    create_user(db, "billing-owner", PASSWORD, ["system_owner"], teams=["billing-team"])
    db.commit()
    assert login("billing-owner").status_code == 302
    assert "Silence alerts" in client.get("/monitor/systems/boss").get_data(as_text=True)
    assert "Silence alerts" not in client.get("/monitor/systems/rbt").get_data(as_text=True)
    overview = client.get("/monitor").get_data(as_text=True)
    assert '<option value="*">' not in overview  # every system at once needs monitor.manage
    token = form_token(client, "/monitor")
    refused = client.post("/monitor/maintenance", data={"csrf_token": token, "system_id": "rbt",
                                                        "ends_at": in_an_hour(), "reason": "not mine"})
    assert refused.status_code == 403


def test_agents_cannot_post_windows(client, db, make_user, login):
    make_user("agent2", "agent")
    assert login("agent2").status_code == 302
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    response = client.post("/monitor/maintenance", data={"csrf_token": token, "system_id": "boss",
                                                         "ends_at": in_an_hour(), "reason": "x"})
    assert response.status_code == 403


def test_an_unreadable_lease_is_unknown_not_not_running(client, admin, app, monkeypatch):
    """With Redis configured but down, the page cannot know whether the monitor runs, and says so."""
    from portal.monitor import selfcheck

    class DownRedis:
        def ping(self):
            raise ConnectionError("refused")

        get = pttl = ping

    monkeypatch.setattr(selfcheck, "redis_of", lambda _app: DownRedis())
    html = client.get("/monitor").get_data(as_text=True)
    assert "Monitor status unknown" in html and "Redis could not be read" in html
    assert "Monitor not running" not in html
    assert "UNREACHABLE" in html  # the Redis line of the portal panel


@pytest.mark.parametrize(("path", "title"), [("/monitor", "System monitor"),
                                             ("/monitor/systems/boss", "BOSS billing & CRM · Monitor")])
def test_pages_have_a_plain_title(client, db, admin, path, title):
    from lxml import html

    seed(db)
    document = html.fromstring(client.get(path).get_data(as_text=True))
    assert document.findtext(".//head/title") == f"{title} · Service-desk portal"
