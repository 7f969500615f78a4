"""The credentials page and API show which credential sets each system may use, and where each comes from."""

from __future__ import annotations

import pytest

SECRET = "s3cret-at-the-system"


@pytest.fixture
def bearer(app):
    from portal.accounts.service import create_user, issue_token

    def make(username: str, role: str, teams: list[str] | None = None) -> dict[str, str]:
        with app.extensions["portal.db"].session() as session:
            create_user(session, username, "correct horse battery", [role], teams=teams)
            _, token = issue_token(session, username)
            session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


def bindings_of(client, headers) -> dict[str, dict]:
    body = client.get("/api/v1/sso/credentials", headers=headers).get_json()
    return {system["system"]: system for system in body["bindings"]}


def test_each_system_may_use_the_credentials_of_its_own_name_and_the_api_says_where_they_come_from(client, bearer):
    admin = bearer("root", "admin")
    systems = bindings_of(client, admin)
    assert len(systems) == 12
    [complaints] = systems["complaints"]["may_use"]
    assert complaints == {"name": "COMPLAINTS", "bound_to": "system:complaints", "source": "environment",
                          "where": "PORTAL_CRED_COMPLAINTS_*", "used_by": ["login.credentials"]}
    [boss] = systems["boss"]["may_use"]
    assert (boss["name"], boss["source"], boss["used_by"]) == ("BOSS", "not set", [])
    assert "PORTAL_CRED_BOSS_USERNAME" in boss["where"]
    assert all(not system["refused"] for system in systems.values())

    client.put("/api/v1/sso/credentials/complaints/*", headers=admin,
               json={"login_username": "desk-service", "password": SECRET})
    [complaints] = bindings_of(client, admin)["complaints"]["may_use"]
    assert (complaints["source"], complaints["where"]) == ("encrypted store", "service account of complaints")


def test_stored_entries_list_the_credential_set_they_are_and_its_binding(client, bearer):
    admin = bearer("root", "admin")
    for operator in ("*", "alice"):
        client.put(f"/api/v1/sso/credentials/complaints/{operator}", headers=admin,
                   json={"login_username": "svc", "password": SECRET})
    entries = {e["operator"]: e for e in client.get("/api/v1/sso/credentials", headers=admin).get_json()["credentials"]}
    assert (entries["*"]["credential"], entries["*"]["bound_to"]) == ("COMPLAINTS", "system:complaints")
    assert (entries["alice"]["credential"], entries["alice"]["bound_to"]) == (None, None)  # form mode only


def test_a_system_owner_sees_the_bindings_of_their_teams_systems_only(client, bearer):
    owner = bearer("carol", "system_owner", teams=["customer-care-team"])
    assert list(bindings_of(client, owner)) == ["complaints"]


@pytest.fixture
def bound_app(settings_overrides):
    from portal import create_app, migrate
    from portal.db import get_database
    from tests.conftest import close_app

    app = create_app({**settings_overrides,
                      "adapters_credential_bindings": {"SHARED": "team:messaging-team", "PAYMENTS": "system:boss"}})
    with app.app_context():
        migrate.upgrade(get_database().engine)
    yield app
    close_app(app)


def test_bindings_from_the_settings_are_shown(bound_app, monkeypatch):
    from portal.accounts.service import create_user, issue_token

    monkeypatch.setenv("PORTAL_CRED_SHARED_USERNAME", "shared-svc")
    monkeypatch.setenv("PORTAL_CRED_SHARED_PASSWORD", "pw")
    with bound_app.extensions["portal.db"].session() as session:
        create_user(session, "root", "correct horse battery", ["admin"])
        _, token = issue_token(session, "root")
        session.commit()
    client = bound_app.test_client()
    systems = bindings_of(client, {"Authorization": f"Bearer {token}"})
    may_use = {system: {use["name"]: use for use in body["may_use"]} for system, body in systems.items()}
    # messaging-team owns mms and smsc: both may use the team's SHARED; PAYMENTS was given to boss.
    assert set(may_use["mms"]) == {"MMS", "SHARED"} and set(may_use["smsc"]) == {"SMSC", "SHARED"}
    assert may_use["smsc"]["SHARED"]["bound_to"] == "team:messaging-team"
    assert may_use["smsc"]["SHARED"]["source"] == "environment"
    assert set(may_use["boss"]) == {"BOSS", "PAYMENTS"} and set(may_use["payments"]) == set()
    assert "SHARED" not in may_use["complaints"]


def test_the_page_shows_the_bindings(client, make_user, login):
    make_user("root", "admin")
    login("root")
    text = client.get("/admin/credentials").get_data(as_text=True)
    assert "Which credentials each system may use" in text
    assert "<code>COMPLAINTS</code>" in text and "system complaints" in text
    assert "PORTAL_CRED_COMPLAINTS_*" in text and "login.credentials" in text


def test_the_page_lists_what_a_stored_service_account_is_for(client, make_user, login, csrf):
    make_user("root", "admin")
    login("root")
    page = client.get("/admin/credentials")
    stored = client.post("/admin/credentials", data={
        "csrf_token": csrf(page.get_data(as_text=True)), "system": "complaints", "operator": "*",
        "login_username": "desk-service", "password": SECRET}, follow_redirects=True)
    assert "COMPLAINTS, bound to system complaints" in stored.get_data(as_text=True)
