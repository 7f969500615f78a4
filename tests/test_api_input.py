"""Hostile input at the API edge is a 422 problem naming the field, never a 500 nor a silent coercion."""

import pytest


@pytest.fixture
def bearer(app):
    from portal.accounts.service import create_user, issue_token

    with app.extensions["portal.db"].session() as session:
        create_user(session, "all-hands", "a long password", ["admin", "auditor"])
        _, token = issue_token(session, "all-hands")
        session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("path", "key"), [
    ("/api/v1/audit/²", "number"),
    ("/api/v1/audit/0", "number"),
    ("/api/v1/audit/99999999999999999999", "number"),
    ("/api/v1/monitor/maintenance/²", "window"),
    ("/api/v1/monitor/maintenance/-1", "window"),
    ("/api/v1/adapters/boss/shadow?version=٣", "version"),
])
def test_path_numbers_are_ascii_digits(client, bearer, path, key):
    response = client.get(path, headers=bearer)
    assert response.status_code == 422, response.get_data(as_text=True)
    problem = response.get_json()
    assert problem["code"] == "invalid_document" and problem["key"] == key


@pytest.mark.parametrize("body", [{"username": None, "password": "a long password"},
                                  {"username": 12345, "password": "a long password"},
                                  {"password": "a long password"}])
def test_a_username_must_be_text(client, bearer, body, db):
    from portal.accounts.service import find_user

    response = client.post("/api/v1/users", json=body, headers=bearer)
    assert response.status_code == 422 and response.get_json()["key"] == "username"
    assert find_user(db, "none") is None and find_user(db, "12345") is None
