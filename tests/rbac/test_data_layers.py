"""Field and content layers end to end: what is hidden or masked never reaches HTML or JSON."""

import pytest
from sqlalchemy import select

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.demo.data import boss_subscriber, loyalty

KNOWN = "13800000000"
LOOKUP = ["customer.lookup", "system.*.view", "system.*.open"]
pytestmark = pytest.mark.backoffice


@pytest.fixture
def with_role(db, make_user, login, client):
    """Sign in as an operator holding one role made for the test."""

    def make(permissions=LOOKUP, grants=None, rules=None):
        db.add(Role(name="tested", description="", permissions=permissions,
                    field_grants=grants or {"*": "show"}, content_rules=rules or []))
        db.commit()
        make_user("tess", "tested")
        assert login("tess").status_code == 302

    return make


def both_bodies(client, number=KNOWN):
    api = client.get(f"/api/v1/customers/{number}")
    page = client.get(f"/customers/{number}")
    return api, page


def test_hidden_fields_are_absent_from_html_and_json(client, backoffice, with_role):
    with_role(grants={"pii": "hide", "*": "show"})
    api, page = both_bodies(client)
    subscriber = boss_subscriber(KNOWN)
    boss = next(s for s in api.get_json()["systems"] if s["system_id"] == "boss")
    assert "id_number" not in boss["fields"] and "name" not in boss["fields"] and "id_number" not in boss["labels"]
    assert boss["fields"]["plan"] == subscriber["plan"]["name"]
    for body in (api.get_data(as_text=True), page.get_data(as_text=True)):
        assert subscriber["idNumber"] not in body
        assert subscriber["name"] not in body and subscriber["name"].encode("unicode_escape").decode() not in body


def test_masked_fields_show_only_the_mask(client, backoffice, with_role):
    with_role(grants={"pii": "mask", "*": "show"})
    api, page = both_bodies(client)
    id_number = boss_subscriber(KNOWN)["idNumber"]
    boss = next(s for s in api.get_json()["systems"] if s["system_id"] == "boss")
    assert boss["fields"]["id_number"].endswith(id_number[-4:]) and "id_number" in boss["masked"]
    assert id_number not in api.get_data(as_text=True) and id_number not in page.get_data(as_text=True)
    assert "Reveal" not in page.get_data(as_text=True)  # no customer.reveal


def test_reveal_gives_one_value_and_is_audited(client, backoffice, with_role, db, csrf):
    with_role(permissions=LOOKUP + ["customer.reveal"], grants={"pii": "mask", "*": "show"})
    page = client.get(f"/customers/{KNOWN}").get_data(as_text=True)
    assert 'class="reveal"' in page
    response = client.post(f"/api/v1/customers/{KNOWN}/reveal", json={"system": "boss", "field": "id_number"},
                           headers={"X-CSRFToken": csrf(page.replace('<meta name="csrf-token" content=', 'name="csrf_token" value='))})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["value"] == boss_subscriber(KNOWN)["idNumber"]
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "customer.reveal")).all()
    assert (event.actor, event.target, event.customer) == ("tess", "boss.id_number", KNOWN)
    assert event.details == {"system": "boss", "field": "id_number"}


def test_reveal_needs_the_permission_csrf_and_a_maskable_field(client, backoffice, with_role, csrf):
    with_role(permissions=LOOKUP + ["customer.reveal"], grants={"pii": "hide", "*": "show"})
    page = client.get("/").get_data(as_text=True)
    token = csrf(page.replace('<meta name="csrf-token" content=', 'name="csrf_token" value='))
    no_csrf = client.post(f"/api/v1/customers/{KNOWN}/reveal", json={"system": "boss", "field": "id_number"})
    assert no_csrf.status_code == 400
    hidden = client.post(f"/api/v1/customers/{KNOWN}/reveal", json={"system": "boss", "field": "id_number"},
                         headers={"X-CSRFToken": token})
    assert hidden.status_code == 403 and "hidden" in hidden.get_json()["detail"]


def test_agent_cannot_reveal(client, backoffice, agent):
    page = client.get("/").get_data(as_text=True)
    response = client.post(f"/api/v1/customers/{KNOWN}/reveal", json={"system": "boss", "field": "id_number"},
                           headers={"X-CSRFToken": page.split('name="csrf-token" content="')[1].split('"')[0]})
    assert response.status_code == 403


def test_customer_patterns_refuse_customers_outside_the_region(client, backoffice, with_role, db):
    with_role(rules=[{"type": "customers", "patterns": ["138000000??"]}])
    assert client.get("/api/v1/customers/13800000042").status_code == 200
    response = client.get("/api/v1/customers/13800000542")
    assert response.status_code == 403 and "outside" in response.get_json()["detail"]
    denied = db.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).one()
    assert denied.customer == "13800000542" and "only customers 138000000??" in denied.details["because"]


def test_record_rules_withhold_rows_and_whole_systems(client, backoffice, with_role):
    bills = boss_subscriber(KNOWN)["bills"]
    tier = loyalty(KNOWN).tier
    with_role(rules=[
        {"type": "records", "system": "boss", "table": "bills", "field": "month", "op": "eq",
         "value": bills[0]["month"], "effect": "deny"},
        {"type": "records", "system": "loyalty", "field": "tier", "op": "eq", "value": tier, "effect": "deny"},
    ])
    api, page = both_bodies(client)
    body = api.get_json()
    systems = {s["system_id"]: s for s in body["systems"]}
    assert "loyalty" not in systems and body["withheld_systems"] == 1
    boss = systems["boss"]
    assert [row["month"] for row in boss["tables"]["bills"]] == [b["month"] for b in bills[1:]]
    assert boss["rows_withheld"] == {"bills": 1}
    html = page.get_data(as_text=True)
    assert 'id="tab-loyalty"' not in html and "1 withheld for your role" in html
    assert f"<td>{bills[0]['month']}</td>" not in html and "1 not shown for your role" in html


def test_quick_channels_respect_customer_patterns_too(client, backoffice, with_role, db):
    with_role(rules=[{"type": "customers", "patterns": ["138000000??"]}])
    assert client.get("/go/boss/13800000042").status_code == 200
    response = client.get("/go/boss/13800000542")
    assert response.status_code == 403 and "outside" in response.get_data(as_text=True)
    opened = db.scalars(select(AuditEvent.customer).where(AuditEvent.action == "system.open")).all()
    assert opened == ["13800000042"]
