"""Every operation's answer, with real data, matches the OpenAPI document (its pydantic models).

The fuzzer (tests/test_api_schema.py) mostly meets refusals; here each operation is called the way a
client would (an adapter registered and taken live, windows opened, a CSV imported, customers looked
up against the simulated back office), and every response is checked against the schema the
document gives for its status code, by the same validator schemathesis uses.
"""

from __future__ import annotations

import io
import re

import pytest
import schemathesis

from portal.openapi import document

pytestmark = pytest.mark.backoffice

KNOWN = "13800000000"
OPERATORS = {"admin1": ["admin"], "admin2": ["admin"], "agent1": ["agent"], "super1": ["supervisor"],
             "audit1": ["auditor"], "owner1": ["system_owner"]}
SCHEMA = schemathesis.openapi.from_dict(document())


@pytest.fixture
def call(app, client, backoffice):
    """``call(who, method, url, status, **kwargs)``: the response, checked against the document."""
    from portal.accounts.service import create_user, issue_token

    tokens = {}
    with app.extensions["portal.db"].session() as session:
        for name, roles in OPERATORS.items():
            create_user(session, name, "a long password here", roles)
            _, tokens[name] = issue_token(session, name)
        session.commit()

    def request(who: str, method: str, url: str, status: int, **kwargs):
        response = client.open(url, method=method, headers={"Authorization": f"Bearer {tokens[who]}"}, **kwargs)
        assert response.status_code == status, response.get_data(as_text=True)[:2000]
        operation = SCHEMA.find_operation_by_path(method, url.split("?")[0].removeprefix("/api/v1"))
        assert operation is not None, f"{method} {url} is not in the document"
        assert str(status) in document()["paths"][operation.path][method.lower()]["responses"], "undocumented"
        operation.validate_response(response)
        return response

    return request


def test_lookups_and_reveal(call):
    view = call("agent1", "GET", f"/api/v1/customers/{KNOWN}", 200).get_json()
    assert {s["status"] for s in view["systems"]} <= {"ok", "not_found"} and len(view["systems"]) == 12
    call("agent1", "GET", "/api/v1/customers/not-a-number", 400)
    revealed = call("super1", "POST", f"/api/v1/customers/{KNOWN}/reveal", 200,
                    json={"system": "boss", "field": "id_number"}).get_json()
    assert revealed["value"]
    call("super1", "POST", f"/api/v1/customers/{KNOWN}/reveal", 422, json={"system": "boss"})


def test_an_adapter_from_registration_to_retirement(call):
    boss = call("admin1", "GET", "/api/v1/adapters/boss", 200).get_json()
    assert boss["source"] == "file" and boss["state"] == "live"
    call("admin1", "GET", "/api/v1/adapters", 200)
    document = {**boss["document"], "id": "boss2", "name": "BOSS (copy)"}
    created = call("admin1", "POST", "/api/v1/adapters", 201, json=document).get_json()
    assert created["state"] == "draft"
    call("admin1", "PUT", "/api/v1/adapters/boss2", 200, json={**document, "name": "BOSS (copy 2)"})
    call("admin1", "GET", "/api/v1/adapters/boss2/versions", 200)
    report = call("admin1", "POST", "/api/v1/adapters/boss2/test", 200, json={"number": KNOWN}).get_json()
    assert report["result"]["status"] == "ok"
    for version in (1, 2):
        call("admin2", "POST", f"/api/v1/adapters/boss2/versions/{version}/approve", 200)  # four eyes
    call("admin1", "POST", "/api/v1/adapters/boss2/versions/1/promote", 200)
    call("admin1", "PUT", "/api/v1/adapters/boss2/shadow", 200, json={"version": 2})
    call("agent1", "GET", f"/api/v1/customers/{KNOWN}", 200)  # a lookup the shadow run compares
    call("admin1", "GET", "/api/v1/adapters/boss2/shadow", 200)
    call("admin1", "DELETE", "/api/v1/adapters/boss2/shadow", 200)
    call("admin1", "POST", "/api/v1/adapters/boss2/versions/2/promote", 200)
    call("admin1", "POST", "/api/v1/adapters/boss2/rollback", 200)
    call("admin1", "POST", "/api/v1/adapters/boss2/versions/2/retire", 200)
    call("admin1", "POST", "/api/v1/adapters/boss2/versions/x/retire", 422)
    call("admin1", "DELETE", "/api/v1/adapters/boss2", 204)
    call("admin1", "GET", "/api/v1/egress", 200)


def test_operators_and_roles(call):
    call("admin1", "POST", "/api/v1/roles", 201, json={
        "name": "vip_desk", "permissions": ["customer.lookup"], "field_grants": {"*": "show"},
        "content_rules": [{"type": "customers", "patterns": ["1380000*"]},
                          {"type": "records", "system": "boss", "field": "x", "op": "in", "value": ["a"]}]})
    call("admin1", "GET", "/api/v1/roles", 200)
    call("admin1", "PUT", "/api/v1/roles/vip_desk", 200, json={"description": "VIP", "permissions": []})
    call("admin1", "GET", "/api/v1/roles/vip_desk", 200)
    call("admin1", "POST", "/api/v1/users", 201, json={"username": "wang.fang", "roles": ["vip_desk"],
                                                         "email": "wang.fang@example.cn", "password": "long enough now"})
    call("admin1", "PATCH", "/api/v1/users/wang.fang", 200, json={"region": "north", "password": "another long one"})
    call("admin1", "GET", "/api/v1/users/wang.fang", 200)
    call("admin1", "GET", "/api/v1/users", 200)
    call("admin1", "DELETE", "/api/v1/users/wang.fang/sessions", 204)
    call("admin1", "DELETE", "/api/v1/users/wang.fang", 204)
    call("admin1", "DELETE", "/api/v1/roles/vip_desk", 204)
    call("admin1", "DELETE", "/api/v1/roles/agent", 409)
    call("admin1", "POST", "/api/v1/users", 422, json={"username": None})


def test_import(call):
    csv = "username,display_name,email,phone,region,roles,status\nlina,Li Na,,,north,agent,enabled\n"
    dry = call("admin1", "POST", "/api/v1/users/import", 200, content_type="multipart/form-data",
               data={"file": (io.BytesIO(csv.encode()), "operators.csv")}).get_json()
    assert dry["summary"]["create"] == 1
    bad = csv + "x y,,,,,wizard,enabled\n"
    call("admin1", "POST", "/api/v1/users/import", 422, content_type="multipart/form-data",
         data={"file": (io.BytesIO(bad.encode()), "operators.csv"), "apply": "true"})


def test_monitor_and_maintenance(call):
    call("owner1", "GET", "/api/v1/monitor", 200)
    call("owner1", "GET", "/api/v1/monitor/systems/boss", 200)
    window = call("admin1", "POST", "/api/v1/monitor/maintenance", 201, json={
        "system_id": "boss", "ends_at": "2099-01-01T00:00:00Z", "starts_at": "2098-12-31T00:00:00Z",
        "reason": "upgrade"}).get_json()
    call("owner1", "GET", "/api/v1/monitor/maintenance?past=true", 200)
    call("owner1", "GET", f"/api/v1/monitor/maintenance/{window['id']}", 200)
    call("admin1", "DELETE", f"/api/v1/monitor/maintenance/{window['id']}", 204)
    call("admin1", "DELETE", f"/api/v1/monitor/maintenance/{window['id']}", 409)
    call("agent1", "POST", "/api/v1/monitor/maintenance", 403, json={})  # before anything about the body


def test_credentials(call):
    call("admin1", "PUT", "/api/v1/sso/credentials/complaints/*", 200,
         json={"login_username": "portal-svc", "password": "complaints-demo"})
    listing = call("admin1", "GET", "/api/v1/sso/credentials", 200).get_json()
    assert any(b["may_use"] for b in listing["bindings"])
    call("admin1", "DELETE", "/api/v1/sso/credentials/complaints/*", 204)


def test_audit_and_statistics(call):
    for _ in range(2):
        call("agent1", "GET", f"/api/v1/customers/{KNOWN}", 200)
    page = call("audit1", "GET", "/api/v1/audit?limit=1", 200).get_json()
    assert page["next"] and page["next_cursor"]
    call("audit1", "GET", f"/api/v1/audit/{page['events'][0]['seq']}", 200)
    call("audit1", "GET", "/api/v1/audit/verify", 200)
    for fmt in ("csv", "jsonl"):
        exported = call("audit1", "GET", f"/api/v1/audit/export?format={fmt}", 200)
        assert exported.get_data()
    call("audit1", "GET", "/api/v1/stats?since=0465-09-01", 200)  # a year below 1000 stays ISO 8601
    for by in ("actor", "hour", "system"):
        call("audit1", "GET", f"/api/v1/stats/operations?by={by}", 200)
    for what in ("logins", "lookups", "outliers"):
        call("audit1", "GET", f"/api/v1/stats/{what}", 200)
    call("audit1", "GET", "/api/v1/audit?since=tomorrow", 400)


def test_the_document_is_generated_from_the_models():
    schemas = document()["components"]["schemas"]
    assert {"CustomerView", "User", "Role", "AuditEvent", "Window", "CredentialEntry", "EgressReport"} <= set(schemas)
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(document()).replace("'", '"')))
    assert refs <= set(schemas), refs - set(schemas)
    for path_item in document()["paths"].values():
        for operation in path_item.values():
            for status, response in operation["responses"].items():
                if status < "300" and status != "204":
                    assert "content" in response, operation["summary"]
