"""/api/v1/monitor: the same facts as the page, as JSON, for scripts and dashboards."""

from __future__ import annotations

import pytest

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
