"""GET /api/v1/customers/{number}: the combined view as JSON, against the real simulated back office."""

import re
import time

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.demo.catalogue import CATALOGUE
from portal.demo.data import known

SYSTEM_IDS = [spec.id for spec in CATALOGUE]
KNOWN_EVERYWHERE = "13800000000"


def api(client, number, token):
    return client.get(f"/api/v1/customers/{number}", headers={"Authorization": f"Bearer {token}"})


def partly_known_number() -> str:
    for n in range(1, 1000):
        number = f"13800000{n:03d}"
        if 0 < sum(known(system_id, number) for system_id in SYSTEM_IDS) < len(SYSTEM_IDS):
            return number
    raise AssertionError("the demo data has no partly known number")


@pytest.mark.backoffice
def test_known_number_gives_twelve_ok_systems_with_fields(client, token, backoffice):
    response = api(client, KNOWN_EVERYWHERE, token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["customer"] == KNOWN_EVERYWHERE
    # One file per system in config/adapters, loaded in file-name order.
    assert [s["system_id"] for s in body["systems"]] == sorted(SYSTEM_IDS)
    for system in body["systems"]:
        assert system["status"] == "ok", (system["system_id"], system["error"])
        assert system["fields"] and any(v for v in system["fields"].values()), system["system_id"]
        assert set(system) >= {"system_id", "status", "fields", "tables", "elapsed_ms", "error",
                               "name", "kind", "labels", "masked", "deep_link"}
        assert system["deep_link"] == f"/go/{system['system_id']}/{KNOWN_EVERYWHERE}"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.backoffice
def test_partly_known_number_gives_not_found_where_unknown(client, token, backoffice):
    number = partly_known_number()
    body = api(client, number, token).get_json()
    statuses = {s["system_id"]: s["status"] for s in body["systems"]}
    assert statuses == {sid: ("ok" if known(sid, number) else "not_found") for sid in SYSTEM_IDS}


@pytest.mark.backoffice
def test_number_outside_the_range_is_unknown_everywhere(client, token, backoffice):
    body = api(client, "13900000000", token).get_json()
    assert {s["status"] for s in body["systems"]} == {"not_found"}


@pytest.mark.backoffice
def test_stopped_and_hanging_systems_cost_only_their_panels(client, token, backoffice, app):
    backoffice.stop_system("roaming")
    backoffice.hang("vas")
    started = time.monotonic()
    body = api(client, KNOWN_EVERYWHERE, token).get_json()
    took = time.monotonic() - started
    statuses = {s["system_id"]: s["status"] for s in body["systems"]}
    assert statuses.pop("roaming") == "unavailable"
    assert statuses.pop("vas") == "timeout"
    assert set(statuses.values()) == {"ok"} and len(statuses) == 10
    deadline = app.extensions["portal.settings"].lookup_deadline_s
    assert took < deadline + 1.0  # inside the deadline (plus request overhead)


@pytest.mark.backoffice
def test_masked_field_value_is_not_sent(client, token, backoffice):
    body = api(client, KNOWN_EVERYWHERE, token).get_json()
    masked = [(s, name) for s in body["systems"] for name in s["masked"]]
    assert masked, "the demo adapters mask at least one field (the BOSS id number)"
    for system, name in masked:
        assert "•" in system["fields"][name]


@pytest.mark.backoffice
def test_lookup_is_audited_with_each_systems_status(client, token, backoffice, db):
    backoffice.stop_system("mail")
    body = api(client, KNOWN_EVERYWHERE, token).get_json()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "customer.lookup")).all()
    assert event.actor == "apiagent" and event.customer == KNOWN_EVERYWHERE
    assert event.correlation_id == body["correlation_id"]
    assert event.details["systems"]["mail"] == "unavailable"
    assert event.details["systems"]["boss"] == "ok"
    assert set(event.details["latency_ms"]) == set(SYSTEM_IDS) and event.details["latency_ms"]["boss"] > 0
    assert event.details["not_attempted"] == []  # mail refused the connection: it was asked


@pytest.mark.backoffice
def test_systems_a_breaker_refused_are_recorded_as_not_asked(client, token, backoffice, db, app):
    """The monitor reads lookups from the audit log; a refusal by our own breaker is no news of the system."""
    backoffice.stop_system("mail")
    mail = next(a for a in app.extensions["portal.catalog"].adapters(db) if a.id == "mail")
    for _ in range(mail.config.breaker_failures):
        api(client, KNOWN_EVERYWHERE, token)
    api(client, KNOWN_EVERYWHERE, token)
    last = db.scalars(select(AuditEvent).where(AuditEvent.action == "customer.lookup")
                      .order_by(AuditEvent.seq.desc())).first()
    assert last.details["systems"]["mail"] == "unavailable"
    assert last.details["not_attempted"] == ["mail"]


@pytest.mark.parametrize("number", ["abc", "1380000000", "138000000000", "23800000000", "1380000000x"])
def test_malformed_number_is_a_400_problem(client, token, number):
    response = api(client, number, token)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 400 and problem["code"] == "invalid_customer_number"
    assert number in problem["detail"]


def test_no_credentials_is_a_401_problem(client):
    response = client.get(f"/api/v1/customers/{KNOWN_EVERYWHERE}")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer pt_forged", "Bearer ", "Basic YWxpY2U6eA==", "Bearer"])
def test_bad_credentials_are_a_401_problem(client, header):
    response = client.get(f"/api/v1/customers/{KNOWN_EVERYWHERE}", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["code"] == "authentication_required"


def test_role_without_lookup_permission_gets_403(app, client, make_user):
    from portal.accounts.service import issue_token

    make_user("audrey", "auditor")
    with app.extensions["portal.db"].session() as session:
        _, token = issue_token(session, "audrey")
        session.commit()
    response = api(client, KNOWN_EVERYWHERE, token)
    assert response.status_code == 403
    assert response.get_json()["code"] == "permission_denied"


@pytest.mark.backoffice
def test_session_cookie_works_for_the_api_too(client, agent, backoffice):
    response = client.get(f"/api/v1/customers/{KNOWN_EVERYWHERE}")
    assert response.status_code == 200
    assert len(response.get_json()["systems"]) == 12


def test_openapi_document_describes_the_customer_endpoint(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/customers/{number}"]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "403"}


def test_openapi_lists_every_api_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    def shape(path: str) -> str:  # parameter names differ between Flask and OpenAPI; their places may not
        return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)

    documented = {shape("/api/v1" + path) for path in document["paths"]}
    routes = {shape(rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") and not rule.rule.endswith("openapi.json")}
    assert routes <= documented, routes - documented
