"""Operator administration through the API and pages, audited, never locking the admins out."""

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent


def audit(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_create_read_update_delete_with_before_and_after(api, db):
    created = api("POST", "/api/v1/users", {"username": "Wang.Fang", "display_name": "王芳", "roles": ["agent"],
                                           "email": "wang@example.com", "region": "north", "password": "initial password"})
    assert created.status_code == 201 and created.headers["Location"] == "/api/v1/users/wang.fang"
    assert created.get_json()["has_password"] is True
    changed = api("PATCH", "/api/v1/users/wang.fang", {"roles": ["agent", "supervisor"], "region": "south"})
    assert changed.get_json()["roles"] == ["agent", "supervisor"] and changed.get_json()["region"] == "south"
    [update] = audit(db, "user.update")
    assert update.details["before"]["region"] == "north" and update.details["after"]["region"] == "south"
    assert audit(db, "user.create")[-1].details["after"]["display_name"] == "王芳"
    assert api("GET", "/api/v1/users/wang.fang").get_json()["email"] == "wang@example.com"
    assert "wang.fang" in {u["username"] for u in api("GET", "/api/v1/users").get_json()["users"]}
    assert api("DELETE", "/api/v1/users/wang.fang").status_code == 204
    assert api("GET", "/api/v1/users/wang.fang").status_code == 404
    assert audit(db, "user.delete")[0].details["before"]["username"] == "wang.fang"


@pytest.mark.parametrize(
    ("body", "status", "key"),
    [
        ({"username": "x y", "roles": ["agent"]}, 422, "username"),
        ({"username": "ok", "roles": ["agent"], "email": "nope"}, 422, "email"),
        ({"username": "ok", "roles": ["agent"], "phone": "call me"}, 422, "phone"),
        ({"username": "ok", "roles": ["wizard"]}, 422, "roles"),
        ({"username": "ok", "roles": []}, 422, "roles"),
        ({"username": "ok", "roles": ["agent"], "password": "short"}, 422, "password"),
        ({"username": "ok", "roles": ["agent"], "shoe_size": 42}, 422, "shoe_size"),
        ({"username": "root", "roles": ["agent"]}, 409, None),
    ],
)
def test_bad_operator_data_is_refused_clearly(api, body, status, key):
    response = api("POST", "/api/v1/users", body)
    assert response.status_code == status
    if key:
        assert response.get_json()["key"] == key


def test_the_last_enabled_admin_cannot_be_disabled_demoted_or_deleted(api, db):
    for change in ({"enabled": False}, {"roles": ["agent"]}):
        response = api("PATCH", "/api/v1/users/root", change)
        assert response.status_code == 409 and "no enabled administrator" in response.get_json()["detail"]
    assert api("DELETE", "/api/v1/users/root").status_code == 409
    assert api("PUT", "/api/v1/roles/admin", {"permissions": ["stats.read"]}).status_code == 409
    db.expire_all()
    assert api("GET", "/api/v1/users/root").get_json()["enabled"] is True
    api("POST", "/api/v1/users", {"username": "second", "roles": ["admin"]})
    assert api("PATCH", "/api/v1/users/root", {"roles": ["agent", "admin"]}).status_code == 200
    assert api("PATCH", "/api/v1/users/second", {"enabled": False}).status_code == 200


def test_disable_reset_and_end_sessions_sign_the_operator_out(api, make_user, login, app, csrf):
    make_user("alice", "agent")
    other = app.test_client()
    new_password = "a brand new password"
    steps = [  # (the admin's action, alice's password when she signs in before it)
        (lambda: api("DELETE", "/api/v1/users/alice/sessions"), "correct horse battery"),
        (lambda: api("PATCH", "/api/v1/users/alice", {"password": new_password}), "correct horse battery"),
        (lambda: api("PATCH", "/api/v1/users/alice", {"enabled": False}), new_password),
    ]
    for action, password in steps:
        page = other.get("/login").get_data(as_text=True)
        other.post("/login", data={"username": "alice", "password": password, "csrf_token": csrf(page)})
        assert other.get("/").status_code == 200
        assert action().status_code in (200, 204)
        assert other.get("/").status_code == 302  # signed out by the admin's action
    assert login("alice", new_password).status_code == 401  # disabled now


def test_admin_pages_create_and_edit_an_operator(client, make_user, login, csrf):
    make_user("root", "admin")
    login("root")
    page = client.get("/admin/users/new").get_data(as_text=True)
    response = client.post("/admin/users/new", data={
        "username": "zhao", "display_name": "Zhao Lei", "roles": ["agent"], "enabled": "y",
        "teams": "", "csrf_token": csrf(page)})
    assert response.status_code == 302
    page = client.get("/admin/users/zhao").get_data(as_text=True)
    assert 'value="Zhao Lei"' in page and "End all sessions" in page
    response = client.post("/admin/users/zhao", data={"display_name": "Zhao Lei", "roles": ["agent", "supervisor"],
                                                       "enabled": "y", "region": "east", "csrf_token": csrf(page)})
    assert response.status_code == 302
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "agent, supervisor" in listing and "east" in listing
