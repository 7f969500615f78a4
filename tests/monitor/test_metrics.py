"""/metrics: Prometheus text that moves with real sign-ins and lookups, and is not open to everyone."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal.monitor.models import SystemHealth
from tests.conftest import PASSWORD

KNOWN_EVERYWHERE = "13800000000"
ELSEWHERE = {"REMOTE_ADDR": "10.20.30.40"}


@pytest.fixture
def settings_overrides(settings_overrides):
    # Two failures lock an account, so a lockout is cheap to produce.
    return {**settings_overrides, "login_max_failures": 2}


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_process_metrics_and_every_family_are_served(client):
    samples = scrape(client)
    names = {name for name, _ in samples}
    assert "process_cpu_seconds_total" in names and "python_info" in names
    assert "python_gc_objects_collected_total" in names
    # Scrape-time gauges: one series per system and state, 1 for the current one.
    assert value(samples, "portal_system_state", system="boss", state="unknown") == 1.0
    assert value(samples, "portal_breaker_state", system="boss", state="closed") == 1.0
    assert value(samples, "portal_breaker_state", system="boss", state="open") == 0.0
    assert value(samples, "portal_monitor_running") == 0.0


def test_sign_ins_failures_and_lockouts_are_counted(client, make_user, login):
    make_user("alice", "agent")
    before = scrape(client)
    assert login("alice").status_code == 302
    assert login("alice", "wrong password").status_code == 401
    assert login("alice", "wrong again").status_code == 401  # the second failure locks the account
    after = scrape(client)
    assert value(after, "portal_logins_total", outcome="success") - value(before, "portal_logins_total", outcome="success") == 1
    assert value(after, "portal_logins_total", outcome="failure") - value(before, "portal_logins_total", outcome="failure") == 2
    assert value(after, "portal_logins_total", outcome="lockout") - value(before, "portal_logins_total", outcome="lockout") == 1
    assert (value(after, "portal_audit_events_total", action="auth.login")
            - value(before, "portal_audit_events_total", action="auth.login")) == 1


@pytest.mark.backoffice
def test_a_real_lookup_moves_lookup_and_per_system_metrics(client, token, backoffice):
    before = scrape(client)
    response = client.get(f"/api/v1/customers/{KNOWN_EVERYWHERE}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    systems = [s["system_id"] for s in response.get_json()["systems"]]
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("portal_lookups_total", outcome="success") == 1
    assert moved("portal_lookup_duration_seconds_count") == 1
    assert moved("portal_audit_events_total", action="customer.lookup") == 1
    for system in systems:
        assert moved("portal_backend_results_total", system=system, status="ok") == 1, system
        assert moved("portal_backend_latency_seconds_count", system=system) == 1, system
        assert moved("portal_backend_latency_seconds_bucket", system=system, le="+Inf") == 1, system


def test_system_state_comes_from_the_monitor_and_breakers_from_this_instance(app, client, db):
    db.add(SystemHealth(system_id="boss", state="down", reason="3 failures in a row"))
    db.commit()
    adapter = app.extensions["portal.catalog"].get(db, "crm") or app.extensions["portal.catalog"].adapters(db)[1]
    from portal.adapters.resilience import guard_for

    breaker = guard_for(adapter).breaker
    for _ in range(breaker.failure_threshold):
        breaker.record(False)
    samples = scrape(client)
    assert value(samples, "portal_system_state", system="boss", state="down") == 1.0
    assert value(samples, "portal_system_state", system="boss", state="unknown") == 0.0
    assert value(samples, "portal_breaker_state", system=adapter.id, state="open") == 1.0
    assert value(samples, "portal_breaker_state", system=adapter.id, state="closed") == 0.0


def test_other_clients_are_refused_without_a_configured_token(client):
    response = client.get("/metrics", environ_base=ELSEWHERE)
    assert response.status_code == 403
    assert "loopback" in response.get_data(as_text=True)


def test_a_proxied_request_is_not_loopback(client):
    response = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403


def test_the_metrics_token_admits_other_clients(app, settings_overrides):
    from portal import create_app
    from tests.conftest import close_app

    app = create_app({**settings_overrides, "metrics_token": "scrape-me"})  # the database of ``app``, migrated
    try:
        client = app.test_client()
        assert client.get("/metrics", environ_base=ELSEWHERE).status_code == 401
        wrong = client.get("/metrics", environ_base=ELSEWHERE, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        good = client.get("/metrics", environ_base=ELSEWHERE, headers={"Authorization": "Bearer scrape-me"})
        assert good.status_code == 200 and b"portal_logins_total" in good.data
    finally:
        close_app(app)


def test_many_apps_in_one_process_count_each_event_once(app, client, make_user, login, settings_overrides):
    from portal import create_app
    from tests.conftest import close_app

    other = create_app(settings_overrides)  # would raise on a duplicate registration
    close_app(other)
    make_user("bob", "agent")
    before = scrape(client)
    assert login("bob").status_code == 302
    after = scrape(client)
    assert value(after, "portal_logins_total", outcome="success") - value(before, "portal_logins_total", outcome="success") == 1


def test_a_failing_metric_never_fails_the_operation(client, make_user, login, monkeypatch):
    from portal.audit import record

    def broken(document):
        raise RuntimeError("metrics exploded")

    monkeypatch.setitem(record._observers, "portal.monitor.metrics", broken)
    make_user("carol", "agent")
    assert login("carol", PASSWORD).status_code == 302


def test_without_its_database_the_scrape_still_serves_counters(settings_overrides, tmp_path):
    from portal import create_app
    from tests.conftest import close_app

    app = create_app({**settings_overrides, "database_url": f"sqlite:///{tmp_path / 'no' / 'such' / 'portal.db'}"})
    try:
        samples = scrape(app.test_client())
        assert value(samples, "portal_database_up") == 0.0
        assert "python_info" in {name for name, _ in samples}  # the process metrics are still there
    finally:
        close_app(app)


def test_with_its_database_the_scrape_says_so(client):
    assert value(scrape(client), "portal_database_up") == 1.0
