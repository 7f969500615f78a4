"""Auditor pages: the log, one event, verification, exports and statistics with their charts."""

from __future__ import annotations

import pytest

from portal.audit.record import Actor, Event, record


@pytest.fixture
def auditor(make_user, login):
    make_user("audrey", "auditor")
    assert login("audrey").status_code == 302


@pytest.fixture
def events(db):
    for i in range(60):
        record(db, Actor(f"agent{i % 4}", ("agent",), "10.1.1.1"),
               Event(action="customer.lookup", customer=f"1380000{i:04d}",
                     details={"systems": {"boss": "ok", "smsc": "timeout" if i % 5 == 0 else "ok"},
                              "latency_ms": {"boss": 30 + i, "smsc": 100}}))
    record(db, Actor("-", (), "10.9.9.9"), Event(action="auth.login_failed", outcome="failure", target="mallory"))
    db.commit()


def test_log_page_lists_filters_and_pages(client, auditor, events):
    page = client.get("/audit").get_data(as_text=True)
    assert "Operation log" in page and "customer.lookup" in page and 'rel="next"' in page
    assert "Export CSV" in page
    filtered = client.get("/audit?actor=agent1&limit=500").get_data(as_text=True)
    assert "agent1" in filtered and "agent2</a>" not in filtered
    older = client.get("/audit?cursor=10").get_data(as_text=True)
    assert ">9</a>" in older and ">10</a>" not in older


def test_log_page_explains_a_bad_filter(client, auditor, events):
    response = client.get("/audit?since=someday")
    assert response.status_code == 400 and "ISO 8601" in response.get_data(as_text=True)


def test_event_page(client, auditor, events):
    page = client.get("/audit/3").get_data(as_text=True)
    assert "Event 3: customer.lookup" in page and "Previous hash" in page and "latency_ms" in page
    assert client.get("/audit/99999").status_code == 404


def test_verify_page(client, auditor, events, tamper):
    assert "The chain is intact" in client.get("/audit/verify").get_data(as_text=True)
    tamper("DELETE FROM audit_events WHERE seq = 7")
    page = client.get("/audit/verify").get_data(as_text=True)
    assert "The chain is broken" in page and "deleted" in page and "seq 7..7" in page


def test_export_from_the_page(client, auditor, events):
    response = client.get("/audit/export?format=csv&actor=agent0")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.get_data(as_text=True).count("agent0") == 15


def test_statistics_page_draws_charts(client, auditor, events):
    page = client.get("/stats").get_data(as_text=True)
    assert page.count("<svg") >= 6
    assert "Operations per operator" in page and "failed sign-ins" in page
    assert "smsc" in page and "<script" not in page.split("<main>")[1]
    assert ' style="' not in page  # CSP: no inline styles


def test_menu_links(client, auditor):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/audit"' in page and 'href="/stats"' in page


def test_agent_sees_no_audit_menu_and_is_refused(client, agent):
    assert 'href="/audit"' not in client.get("/").get_data(as_text=True)
    assert client.get("/audit").status_code == 403
    assert client.get("/stats").status_code == 403
