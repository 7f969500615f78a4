"""The agent's pages: number box, combined view with tabs and statuses, quick channels."""

import re

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.demo.catalogue import CATALOGUE

KNOWN = "13800000000"


@pytest.mark.backoffice
def test_combined_view_has_one_tab_per_system_with_quick_channels(client, agent, backoffice):
    page = client.get(f"/customers/{KNOWN}").get_data(as_text=True)
    tabs = re.findall(r'role="tab" id="tab-([a-z0-9_-]+)"', page)
    assert sorted(tabs) == sorted(spec.id for spec in CATALOGUE)
    for spec in CATALOGUE:
        assert f'href="/go/{spec.id}/{KNOWN}"' in page
        assert f'id="panel-{spec.id}"' in page
    assert page.count('class="badge status-ok"') == 12


@pytest.mark.backoffice
def test_failed_and_slow_systems_show_their_status(client, agent, backoffice):
    backoffice.stop_system("loyalty")
    backoffice.hang("smsc")
    page = client.get(f"/customers/{KNOWN}").get_data(as_text=True)
    assert 'class="tab status-unavailable" role="tab" id="tab-loyalty"' in page
    assert 'class="tab status-timeout" role="tab" id="tab-smsc"' in page
    assert "2 could not answer" in page


@pytest.mark.backoffice
def test_masked_values_never_reach_the_page(client, agent, backoffice, app):
    from portal.demo.data import boss_subscriber  # the real value, to prove it is absent

    page = client.get(f"/customers/{KNOWN}").get_data(as_text=True)
    id_number = boss_subscriber(KNOWN)["idNumber"]
    assert id_number not in page
    assert id_number[-4:] in page


def test_number_box_submits_to_the_combined_view(client, agent):
    response = client.get("/customers?number=138 0000 0000")
    assert response.status_code == 302 and response.headers["Location"] == f"/customers/{KNOWN}"


def test_bad_number_is_shown_back_in_the_box(client, agent):
    response = client.get("/customers?number=hello")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'value="hello"' in page and "is not a customer number" in page


def test_quick_channel_hands_the_operator_over_and_is_audited(client, agent, db, backoffice_session):
    response = client.get(f"/go/boss/{KNOWN}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200  # an auto-submitting sign-in form to the system's SSO endpoint
    boss = backoffice_session.systems["boss"].base_url
    assert f'action="{boss}/sso"' in page and f'value="/ui/customer/{KNOWN}"' in page
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "system.open")).all()
    assert (event.actor, event.target, event.customer) == ("alice", "boss", KNOWN)


def test_quick_channel_to_unknown_system_is_404(client, agent):
    response = client.get(f"/go/nosuch/{KNOWN}")
    assert response.status_code == 404
    assert "no quick channel" in response.get_data(as_text=True)


def test_errors_are_friendly_pages_without_stack_traces(client, agent):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<html" in page and "Traceback" not in page


def test_security_headers(client, agent):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_health_endpoints(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["database"] == "ok"


@pytest.mark.parametrize(("role", "landing"), [("agent", None), ("admin", "/admin/adapters"),
                                               ("system_owner", "/admin/adapters"), ("auditor", None)])
def test_each_role_lands_on_its_own_start_page(client, make_user, login, role, landing):
    make_user("someone", role)
    login("someone")
    response = client.get("/")
    if landing:
        assert response.status_code == 302 and response.headers["Location"] == landing
    else:
        assert response.status_code == 200
