"""System owners register, test and maintain adapters through the API; agents then see them."""

from pathlib import Path

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent

REPO = Path(__file__).resolve().parents[2]
KNOWN = "13800000000"


def call(client, method, path, token, **kwargs):
    return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def events(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.mark.backoffice
def test_owner_registers_tests_and_agents_see_it_once_live(client, tokens, backoffice, db, go_live, loyalty_document):
    created = call(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"] == "/api/v1/adapters/points2"
    body = created.get_json()
    assert body["source"] == "database" and body["version"] == 1 and body["editable"] is True
    assert body["state"] == "draft" and body["live_version"] is None
    assert body["document"]["url"] == f"{backoffice.systems['loyalty'].base_url}/member"

    tested = call(client, "POST", "/api/v1/adapters/points2/test", tokens["mkt"], json={"number": KNOWN})
    assert tested.status_code == 200
    report = tested.get_json()
    result = report["result"]
    assert result["status"] == "ok" and result["fields"]["tier"]  # tier is public: shown to its owner
    assert "raw_excerpt" not in result and report["raw_allowed"] is False  # owners hold no adapters.raw
    [event] = events(db, "adapter.test")
    assert (event.actor, event.target, event.customer, event.outcome) == ("mkt", "points2", KNOWN, "ok")

    draft_view = call(client, "GET", f"/api/v1/customers/{KNOWN}", tokens["agent1"]).get_json()
    assert "points2" not in {s["system_id"] for s in draft_view["systems"]}  # a draft is seen by no agent

    go_live(client, "points2")
    view = call(client, "GET", f"/api/v1/customers/{KNOWN}", tokens["agent1"]).get_json()
    systems = {s["system_id"]: s for s in view["systems"]}
    assert len(systems) == 13 and systems["points2"]["status"] == "ok"
    assert systems["points2"]["name"] == "Points (registered)"

    [event] = events(db, "adapter.register")
    assert event.actor == "mkt" and event.details["after"]["id"] == "points2" and event.details["before"] is None


def test_another_owner_cannot_change_it(client, tokens, loyalty_document):
    assert call(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document()).status_code == 201
    for method, kwargs in [("PUT", {"json": loyalty_document(owner="billing-team")}), ("DELETE", {})]:
        response = call(client, method, "/api/v1/adapters/points2", tokens["bill"], **kwargs)
        assert response.status_code == 403, method
        assert response.get_json()["code"] == "permission_denied"
    tested = call(client, "POST", "/api/v1/adapters/points2/test", tokens["bill"], json={"number": KNOWN})
    assert tested.status_code == 403
    listed = call(client, "GET", "/api/v1/adapters", tokens["bill"]).get_json()["adapters"]
    assert next(a for a in listed if a["id"] == "points2")["editable"] is False


def test_owner_cannot_register_for_another_team(client, tokens, loyalty_document):
    response = call(client, "POST", "/api/v1/adapters", tokens["bill"], json=loyalty_document())
    assert response.status_code == 403
    assert "billing-team" in response.get_json()["detail"]


def test_owner_defaults_to_the_operators_team(client, tokens, loyalty_document):
    document = loyalty_document()
    del document["owner"]
    body = call(client, "POST", "/api/v1/adapters", tokens["bill"], json=document).get_json()
    assert body["document"]["owner"] == "billing-team"


def test_admin_manages_every_registered_adapter(client, tokens, loyalty_document):
    call(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    updated = call(client, "PUT", "/api/v1/adapters/points2", tokens["admin1"], json=loyalty_document(timeout_s=1.5))
    assert updated.status_code == 200 and updated.get_json()["version"] == 2


@pytest.mark.parametrize("role_token", ["agent1"])
def test_agents_cannot_see_or_manage_adapters(client, tokens, role_token, loyalty_document):
    assert call(client, "GET", "/api/v1/adapters", tokens[role_token]).status_code == 403
    assert call(client, "POST", "/api/v1/adapters", tokens[role_token], json=loyalty_document()).status_code == 403


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ({"colour": "blue"}, "colour", "unknown key"),
        ({"id": "Bad Id"}, "id", "should match pattern"),
        ({"kind": "carrier-pigeon"}, "kind", "unknown adapter kind"),
        ({"timeout_s": 0}, "timeout_s", "greater than 0"),
        ({"fields": {"x": {"path": "//span[", "label": "X"}}}, "fields.x.path", ""),
    ],
)
def test_invalid_documents_are_422_with_key_and_reason(client, tokens, change, key, reason, loyalty_document):
    response = call(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document(**change))
    assert response.status_code == 422
    problem = response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert problem["key"] == key and reason in problem["reason"]


def test_non_json_body_is_422(client, tokens):
    response = call(client, "POST", "/api/v1/adapters", tokens["mkt"], data="id = 'x'", content_type="text/plain")
    assert response.status_code == 422


def test_file_adapters_are_read_only_here(client, tokens, loyalty_document):
    got = call(client, "GET", "/api/v1/adapters/boss", tokens["admin1"]).get_json()
    assert got["source"] == "file" and got["editable"] is False and got["document"]["kind"] == "soap"
    response = call(client, "PUT", "/api/v1/adapters/boss", tokens["admin1"], json=got["document"])
    assert response.status_code == 409 and "boss.toml" in response.get_json()["detail"]
    clash = call(client, "POST", "/api/v1/adapters", tokens["admin1"], json=loyalty_document(id="loyalty"))
    assert clash.status_code == 409


def test_versions_disable_delete_and_history(client, tokens, db, loyalty_document):
    call(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    disabled = call(client, "PUT", "/api/v1/adapters/points2", tokens["mkt"], json=loyalty_document(enabled=False))
    assert disabled.get_json()["enabled"] is False and disabled.get_json()["version"] == 2
    view = call(client, "GET", f"/api/v1/customers/{KNOWN}", tokens["agent1"])
    assert "points2" not in {s["system_id"] for s in view.get_json()["systems"]}

    assert call(client, "DELETE", "/api/v1/adapters/points2", tokens["mkt"]).status_code == 204
    assert call(client, "GET", "/api/v1/adapters/points2", tokens["mkt"]).status_code == 404
    history = call(client, "GET", "/api/v1/adapters/points2/versions", tokens["mkt"]).get_json()["versions"]
    assert [(v["version"], v["change"], v["changed_by"]) for v in history] == [
        (3, "delete", "mkt"), (2, "update", "mkt"), (1, "create", "mkt")]
    [update] = events(db, "adapter.update")
    assert update.details["before"].get("enabled", True) is True and update.details["after"]["enabled"] is False
    assert events(db, "adapter.delete")[0].details["before"]["id"] == "points2"

    again = call(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    assert again.status_code == 201 and again.get_json()["version"] == 4


def test_changes_reach_other_portal_instances(app, settings_overrides, client, tokens, go_live, loyalty_document):
    from portal import create_app

    other = create_app(settings_overrides).test_client()
    before = call(other, "GET", "/api/v1/customers/not-a-number", tokens["agent1"])  # warm: catalogue loaded
    assert before.status_code == 400
    call(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document(enabled=False))
    listed = call(other, "GET", "/api/v1/adapters", tokens["admin1"]).get_json()["adapters"]
    assert "points2" in {a["id"] for a in listed}
    live = other.application.extensions["portal.catalog"]
    with other.application.extensions["portal.db"].session() as session:
        assert "points2" not in {a.id for a in live.adapters(session)}  # a draft
    go_live(client, "points2")
    with other.application.extensions["portal.db"].session() as session:
        assert "points2" in {a.id for a in live.adapters(session)}
    call(client, "POST", "/api/v1/adapters/points2/versions/1/retire", tokens["mkt"])
    with other.application.extensions["portal.db"].session() as session:
        assert "points2" not in {a.id for a in live.adapters(session)}


@pytest.mark.backoffice
def test_wsdls_are_kept_on_disk_between_runs(app, client, tokens, backoffice, settings_overrides):
    import sqlite3
    from pathlib import Path

    from portal.adapters.soapclient import WSDL_CACHE_FILE, clear_client_cache

    clear_client_cache()  # as after a restart: no parsed WSDL in this process
    call(client, "GET", f"/api/v1/customers/{KNOWN}", tokens["agent1"])
    with sqlite3.connect(Path(settings_overrides["data_dir"]) / "cache" / WSDL_CACHE_FILE) as db:
        cached = {url for (url,) in db.execute("SELECT url FROM request")}
    assert {f"{backoffice.systems['boss'].base_url}/boss?wsdl",
            f"{backoffice.systems['payments'].base_url}/payments?wsdl"} <= cached


def test_key_chain_problems_are_refused_at_registration(client, tokens, loyalty_document):
    response = call(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document(key="{nosuch.account_id}"))
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["key"] == "key" and "nosuch" in problem["reason"]


@pytest.mark.backoffice
def test_test_console_asks_the_upstream_of_a_chained_adapter_first(client, tokens, backoffice, loyalty_document):
    from portal.demo.data import boss_subscriber

    document = loyalty_document(key="{boss.status}")
    assert call(client, "POST", "/api/v1/adapters", tokens["admin1"], json=document).status_code == 201
    report = call(client, "POST", "/api/v1/adapters/points2/test", tokens["admin1"], json={"number": KNOWN}).get_json()
    assert report["key"] == boss_subscriber(KNOWN)["status"]  # the BOSS answer, not the typed number
