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


@pytest.mark.parametrize(("method", "path", "body", "key"), [
    # Strict types: "2" is not the number 2, 1 is not true (they used to be coerced silently).
    ("POST", "/api/v1/adapters/boss/test", {"number": "13800000000", "version": "2"}, "version"),
    ("PUT", "/api/v1/adapters/boss/shadow", {"version": True}, "version"),
    ("POST", "/api/v1/users", {"username": "wang.fang", "roles": ["agent"], "enabled": 1}, "enabled"),
    ("POST", "/api/v1/roles", {"name": "night", "permissions": "customer.lookup"}, "permissions"),
    ("POST", "/api/v1/roles", {"name": "night", "permissions": ["customer.lookup", 7]}, "permissions[1]"),
    ("POST", "/api/v1/roles", {"name": "night", "field_grants": {"pii": "blur"}}, "field_grants.pii"),
    ("POST", "/api/v1/monitor/maintenance", {"system_id": "boss", "ends_at": 1796170000, "reason": "x"}, "ends_at"),
    ("POST", "/api/v1/monitor/maintenance", {"system_id": "boss", "ends_at": "2099-01-01", "reason": ""}, "reason"),
    ("PUT", "/api/v1/sso/credentials/complaints/*", {"login_username": 42, "password": "x"}, "login_username"),
    ("POST", "/api/v1/customers/13800000000/reveal", {"system": "boss"}, "field"),
    ("POST", "/api/v1/customers/13800000000/reveal", {"system": None, "field": "id_number"}, "system"),
])
def test_bodies_are_checked_by_their_models(app, client, bearer, method, path, body, key):
    from portal.accounts.service import create_user, issue_token

    with app.extensions["portal.db"].session() as session:
        create_user(session, "revealer", "a long password", ["supervisor"])
        _, token = issue_token(session, "revealer")
        session.commit()
    headers = {"Authorization": f"Bearer {token}"} if "reveal" in path else bearer
    response = client.open(path, method=method, json=body, headers=headers)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["key"] == key


def test_a_caller_without_the_right_hears_403_before_anything_about_the_body(client, app):
    from portal.accounts.service import create_user, issue_token

    with app.extensions["portal.db"].session() as session:
        create_user(session, "agent7", "a long password", ["agent"])
        _, token = issue_token(session, "agent7")
        session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/monitor/maintenance", json={"ends_at": 5}, headers=headers).status_code == 403
    assert client.put("/api/v1/sso/credentials/complaints/*", json={}, headers=headers).status_code == 403


def test_a_number_in_the_query_string_is_checked_like_one_in_the_body(client, bearer):
    # ?number= (kept for curl users) was built into the model directly: 41 digits were a 500.
    response = client.post("/api/v1/adapters/boss/test?number=" + "1" * 41, headers=bearer)
    assert response.status_code == 422 and response.get_json()["key"] == "number"


@pytest.mark.parametrize(("query", "says"), [
    ("cursor=99999999999999999999999", "cursor"),  # was a 500: SQLite cannot take the number
    ("cursor=٣", "cursor"), ("limit=٣", "limit"),  # were read as 3
    ("since=0001-01-01T00:00:00%2B01:00", "since"),  # was a 500: before the year 1 in UTC
    ("until=9999-12-31T23:59:59-23:59", "until"),
])
def test_audit_filters_out_of_range_are_400s_not_500s(client, bearer, query, says):
    paths = ["/api/v1/audit"]
    if query.startswith(("since", "until")):
        paths += ["/api/v1/audit/export", "/api/v1/stats"]
    for path in paths:
        response = client.get(f"{path}?{query}", headers=bearer)
        assert response.status_code == 400 and says in response.get_json()["detail"], response.get_json()


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_window_beyond_the_calendar_is_a_422_not_a_500(client, bearer, moment):
    response = client.post("/api/v1/monitor/maintenance", headers=bearer,
                           json={"system_id": "boss", "starts_at": moment, "ends_at": moment, "reason": "x"})
    assert response.status_code == 422 and response.get_json()["key"] == "starts_at"


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "says"), [
    ("GET", "/api/v1/monitor/maintenance?system=%00", {}, 400, "system: must not contain NUL characters"),
    ("GET", "/api/v1/audit?actor=a%00b", {}, 400, "actor: must not contain NUL characters"),
    ("POST", "/api/v1/users", {"json": {"username": "nul\u0000", "password": "a long password"}}, 422,
     "the JSON body must not contain NUL characters"),
])
def test_a_nul_character_is_refused_not_a_database_error(client, bearer, method, path, kwargs, status, says):
    """PostgreSQL cannot store NUL; found by the schema fuzzer as a 500 on PostgreSQL only."""
    response = client.open(path, method=method, headers=bearer, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert says in response.get_json()["detail"]
