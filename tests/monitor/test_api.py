"""/api/v1/monitor: the same facts as the page, as JSON, for scripts and dashboards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from tests.conftest import PASSWORD
from tests.monitor.test_views import HOSTILE, lease, seed


@pytest.fixture
def bearer(app, make_user):
    """Authorization headers for an operator with the given role."""
    from portal.accounts.service import issue_token

    def headers(role: str) -> dict[str, str]:
        make_user(f"api-{role}", role)
        with app.extensions["portal.db"].session() as session:
            _, value = issue_token(session, f"api-{role}")
            session.commit()
        return {"Authorization": f"Bearer {value}"}

    return headers


def test_overview_lists_systems_most_serious_first_with_percentiles(client, db, bearer):
    seed(db)
    lease(db, renewed_s_ago=2)
    response = client.get("/api/v1/monitor", headers=bearer("admin"))
    assert response.status_code == 200
    body = response.get_json()
    ids = [s["id"] for s in body["systems"]]
    assert ids[:2] == ["boss", "rbt"] and ids[-1] == "smsc" and len(ids) == 12
    boss, rbt, smsc = body["systems"][0], body["systems"][1], body["systems"][-1]
    assert boss["state"] == "down" and boss["reason"] == "3 failures in a row"
    assert boss["last_error"] == f"connection refused {HOSTILE}"  # JSON carries the text; pages escape it
    assert boss["breaker"]["state"] == "closed" and boss["breaker"]["max_concurrency"] >= 1
    assert rbt["maintenance"]["reason"] == "ring-back tone platform upgrade"
    assert smsc["last_hour"] == {"checks": 100, "errors": 10, "error_rate": 0.1,
                                 "p50_ms": 50, "p95_ms": 95, "p99_ms": 99}
    assert body["systems"][2]["state"] == "unknown" and body["systems"][2]["last_hour"]["checks"] == 0
    portal = body["portal"]
    assert portal["database"]["ok"] is True and portal["database"]["ms"] >= 0
    assert portal["redis"] is None
    assert portal["monitor"]["running"] is True and portal["monitor"]["holder"] == "host-a:4242:beef"
    assert set(portal["workers"]) == {"max_threads", "started", "busy", "queued"}


def test_one_system_with_history_errors_and_alerts(client, db, bearer):
    seed(db)
    response = client.get("/api/v1/monitor/systems/boss", headers=bearer("system_owner"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["system"]["id"] == "boss" and body["system"]["state"] == "down"
    assert [(t["from"], t["to"]) for t in body["transitions"]] == [("up", "down")]
    assert body["recent_errors"][0]["status"] == "unavailable" and body["recent_errors"][0]["source"] == "wsdl"
    assert body["alerts"][0]["recipient"] == "ops@example.test" and body["alerts"][0]["status"] == "sent"
    assert body["observations"] and body["maintenance"] == []


def test_unknown_system_is_a_404_problem(client, bearer):
    response = client.get("/api/v1/monitor/systems/nosuch", headers=bearer("admin"))
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert "nosuch" in response.get_json()["detail"]


def test_agents_get_403_and_strangers_401(client, bearer):
    response = client.get("/api/v1/monitor", headers=bearer("agent"))
    assert response.status_code == 403 and response.get_json()["code"] == "permission_denied"
    assert client.get("/api/v1/monitor").status_code == 401


def test_monitor_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/monitor"] and "get" in paths["/monitor/systems/{id}"]
    assert {"get", "post"} <= set(paths["/monitor/maintenance"])
    assert {"get", "delete"} <= set(paths["/monitor/maintenance/{number}"])


def later(**kwargs) -> str:
    return (datetime.now(UTC) + timedelta(**kwargs)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def owner_headers(app, db):
    """A system owner of the billing team, which owns boss."""
    from portal.accounts.service import create_user, issue_token

    create_user(db, "billing-owner", PASSWORD, ["system_owner"], teams=["billing-team"])
    db.commit()
    _, value = issue_token(db, "billing-owner")
    db.commit()
    return {"Authorization": f"Bearer {value}"}


def test_a_window_is_opened_listed_shown_and_cancelled(client, db, bearer):
    admin = bearer("admin")
    response = client.post("/api/v1/monitor/maintenance", headers=admin,
                           json={"system_id": "boss", "ends_at": later(hours=1), "reason": "BOSS database upgrade"})
    assert response.status_code == 201, response.get_json()
    window = response.get_json()
    assert window["status"] == "current" and window["created_by"] == "api-admin"
    assert response.headers["Location"] == f"/api/v1/monitor/maintenance/{window['id']}"
    assert client.get(response.headers["Location"], headers=admin).get_json()["reason"] == "BOSS database upgrade"
    listed = client.get("/api/v1/monitor/maintenance", headers=admin).get_json()["windows"]
    assert [w["id"] for w in listed] == [window["id"]]
    boss = next(s for s in client.get("/api/v1/monitor", headers=admin).get_json()["systems"] if s["id"] == "boss")
    assert boss["maintenance"]["id"] == window["id"]
    assert db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("monitor.maintenance%"))).all() == [
        "monitor.maintenance_create"]

    assert client.delete(f"/api/v1/monitor/maintenance/{window['id']}", headers=admin).status_code == 204
    again = client.delete(f"/api/v1/monitor/maintenance/{window['id']}", headers=admin)
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    assert client.get("/api/v1/monitor/maintenance", headers=admin).get_json()["windows"] == []
    past = client.get("/api/v1/monitor/maintenance?past=true", headers=admin).get_json()["windows"]
    assert [w["status"] for w in past] == ["cancelled"]


def test_a_bad_window_is_a_422_naming_the_key(client, bearer):
    response = client.post("/api/v1/monitor/maintenance", headers=bearer("admin"),
                           json={"system_id": "boss", "starts_at": later(hours=2), "ends_at": later(hours=1),
                                 "reason": "backwards"})
    assert response.status_code == 422
    assert response.get_json()["key"] == "ends_at"


def test_owners_manage_windows_of_their_own_systems_only(client, owner_headers):
    own = client.post("/api/v1/monitor/maintenance", headers=owner_headers,
                      json={"system_id": "boss", "ends_at": later(minutes=30), "reason": "patching"})
    assert own.status_code == 201
    for system in ("rbt", "*"):
        other = client.post("/api/v1/monitor/maintenance", headers=owner_headers,
                            json={"system_id": system, "ends_at": later(minutes=30), "reason": "not mine"})
        assert other.status_code == 403, system
        assert other.get_json()["code"] == "permission_denied"


def test_agents_may_not_open_or_cancel_windows(client, bearer):
    agent = bearer("agent")
    response = client.post("/api/v1/monitor/maintenance", headers=agent,
                           json={"system_id": "boss", "ends_at": later(hours=1), "reason": "x"})
    assert response.status_code == 403
    assert client.delete("/api/v1/monitor/maintenance/1", headers=agent).status_code == 403


@pytest.mark.parametrize(("number", "status"), [("999", 404), ("abc", 422), ("²", 422)])
def test_an_unknown_window_is_404_and_a_malformed_number_422(client, bearer, number, status):
    admin = bearer("admin")
    assert client.delete(f"/api/v1/monitor/maintenance/{number}", headers=admin).status_code == status
    assert client.get(f"/api/v1/monitor/maintenance/{number}", headers=admin).status_code == status


def test_with_redis_the_monitor_lease_is_read_from_redis(app, settings_overrides, make_user, exclusive):
    """The monitor keeps its lease in Redis when one is configured; the portal reads it from there."""
    from tests.conftest import require_redis

    url = "redis://127.0.0.1:6379/11"
    client_ = require_redis(url)
    exclusive("redis-db-11")  # the lease key is the portal's one: no other test process may set it meanwhile
    from portal import create_app
    from portal.accounts.service import issue_token
    from portal.monitor.selfcheck import REDIS_LEASE_KEY
    from tests.conftest import close_app

    make_user("redis-admin", "admin")
    with app.extensions["portal.db"].session() as session:
        _, token = issue_token(session, "redis-admin")
        session.commit()
    other = create_app({**settings_overrides, "redis_url": url, "session_store": "database"})
    try:
        headers = {"Authorization": f"Bearer {token}"}
        client_.delete(REDIS_LEASE_KEY)
        assert other.test_client().get("/api/v1/monitor", headers=headers).get_json()["portal"]["monitor"]["running"] is False
        client_.set(REDIS_LEASE_KEY, "host-b:77:cafe", px=30_000)
        body = other.test_client().get("/api/v1/monitor", headers=headers).get_json()["portal"]
        assert body["redis"]["ok"] is True
        assert body["monitor"]["running"] is True and body["monitor"]["holder"] == "host-b:77:cafe"
        assert 0 <= body["monitor"]["renewed_s_ago"] < 30
    finally:
        client_.delete(REDIS_LEASE_KEY)
        close_app(other)
