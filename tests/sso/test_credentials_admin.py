"""Form-mode and service-account credentials managed by admins and system owners: API, page and CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.sso.models import SystemCredential

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


def events(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_admin_stores_lists_and_removes_credentials_and_never_sees_the_secret_again(client, bearer, db):
    admin = bearer("root", "admin")
    put = client.put("/api/v1/sso/credentials/complaints/alice", headers=admin,
                     json={"login_username": "alice.c", "password": SECRET})
    assert put.status_code == 200
    assert put.get_json()["login_username"] == "alice.c" and "password" not in put.get_json()
    listing = client.get("/api/v1/sso/credentials", headers=admin)
    assert SECRET not in listing.get_data(as_text=True)
    [entry] = listing.get_json()["credentials"]
    assert (entry["system"], entry["operator"], entry["system_name"]) == ("complaints", "alice", "Complaint tickets")
    assert len(listing.get_json()["systems"]) == 12  # an admin manages every system's
    row = db.scalar(select(SystemCredential))
    assert SECRET.encode() not in bytes(row.secret)  # encrypted at rest
    [stored] = events(db, "sso.credentials_set")
    assert stored.actor == "root" and stored.details == {"system": "complaints", "operator": "alice",
                                                          "login_username": "alice.c", "change": "create"}
    assert SECRET not in str(stored.details)

    assert client.delete("/api/v1/sso/credentials/complaints/alice", headers=admin).status_code == 204
    assert client.get("/api/v1/sso/credentials", headers=admin).get_json()["credentials"] == []
    missing = client.delete("/api/v1/sso/credentials/complaints/alice", headers=admin)
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"
    assert len(events(db, "sso.credentials_remove")) == 1


def test_stored_credentials_are_what_the_form_mode_channel_posts(app, client, bearer):
    client.put("/api/v1/sso/credentials/complaints/*", headers=bearer("root", "admin"),
               json={"login_username": "desk-service", "password": SECRET})
    client.put("/api/v1/sso/credentials/complaints/*", headers=bearer("root2", "admin"),
               json={"login_username": "desk-service", "password": "rotated-" + SECRET})
    assert app.extensions["portal.credentials"].lookup("complaints", "bob") == (
        "desk-service", "rotated-" + SECRET, "*")


def test_system_owners_manage_only_their_teams_systems(client, bearer):
    owner = bearer("carol", "system_owner", teams=["customer-care-team"])
    assert client.get("/api/v1/sso/credentials", headers=owner).get_json()["systems"] == {
        "complaints": "Complaint tickets"}
    assert client.put("/api/v1/sso/credentials/complaints/*", headers=owner,
                      json={"login_username": "svc", "password": SECRET}).status_code == 200
    other = client.put("/api/v1/sso/credentials/boss/*", headers=owner, json={"login_username": "svc", "password": SECRET})
    assert other.status_code == 403 and "your teams own" in other.get_json()["detail"]


def test_agents_may_not_manage_credentials(client, bearer):
    agent = bearer("dave", "agent")
    assert client.get("/api/v1/sso/credentials", headers=agent).status_code == 403
    assert client.put("/api/v1/sso/credentials/complaints/*", headers=agent,
                      json={"login_username": "svc", "password": SECRET}).status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("complaints/*", {"login_username": "svc"}, "password"),
        ("complaints/*", {"login_username": " ", "password": SECRET}, "login_username"),
        ("complaints/*", {"login_username": "svc", "password": SECRET, "note": "x"}, "note"),
        ("complaints/bad%20name", {"login_username": "svc", "password": SECRET}, "operator"),
    ],
)
def test_bad_documents_name_the_key(client, bearer, path, body, key):
    response = client.put(f"/api/v1/sso/credentials/{path}", headers=bearer("root", "admin"), json=body)
    assert response.status_code == 422 and response.get_json()["key"] == key


def test_unknown_systems_are_404(client, bearer):
    response = client.put("/api/v1/sso/credentials/nosuch/*", headers=bearer("root", "admin"),
                          json={"login_username": "svc", "password": SECRET})
    assert response.status_code == 404


def test_the_page_stores_and_removes_with_csrf(client, make_user, login, csrf, db):
    make_user("root", "admin")
    login("root")
    page = client.get("/admin/credentials")
    assert page.status_code == 200 and "No credentials stored" in page.get_data(as_text=True)
    stored = client.post("/admin/credentials", data={
        "csrf_token": csrf(page.get_data(as_text=True)), "system": "complaints", "operator": "*",
        "login_username": "desk-service", "password": SECRET}, follow_redirects=True)
    text = stored.get_data(as_text=True)
    assert "Stored the credentials of the service account at Complaint tickets" in text
    assert "desk-service" in text and SECRET not in text
    no_token = client.post("/admin/credentials/complaints/*/remove")
    assert no_token.status_code == 400  # CSRF
    removed = client.post("/admin/credentials/complaints/*/remove", data={"csrf_token": csrf(text)},
                          follow_redirects=True)
    assert "Removed the credentials" in removed.get_data(as_text=True)
    assert db.scalar(select(SystemCredential)) is None


def test_the_cli_changes_are_audited(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sso", "credentials", "set", "complaints", "--username", "svc",
                                 "--password", SECRET])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["sso", "credentials", "remove", "complaints"]).exit_code == 0
    [stored] = events(db, "sso.credentials_set")
    assert stored.actor == "cli" and SECRET not in str(stored.details)
    assert len(events(db, "sso.credentials_remove")) == 1
