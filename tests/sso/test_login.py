"""Login and logout in the browser, with CSRF, audit and safe redirects."""

from sqlalchemy import select

from portal.audit.models import AuditEvent


def events(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_pages_need_a_login(client):
    response = client.get("/customers/13800000000")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/customers/13800000000")


def test_login_then_home_shows_number_box(client, make_user, login, db):
    make_user("alice", "agent")
    response = login("alice")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert 'name="number"' in page and "Sign out" in page
    [event] = events(db, "auth.login")
    assert event.actor == "alice" and event.outcome == "success" and event.roles == ["agent"]
    assert event.client_addr == "127.0.0.1"


def test_login_cookie_is_httponly_and_samesite(client, make_user, login):
    make_user("alice", "agent")
    response = login("alice")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_failed_login_says_the_same_for_unknown_user_and_wrong_password(client, make_user, login, db):
    make_user("alice", "agent")
    wrong = login("alice", "not the password")
    unknown = login("mallory", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Unknown username or wrong password." in wrong.get_data(as_text=True)
    assert "Unknown username or wrong password." in unknown.get_data(as_text=True)
    failed = events(db, "auth.login_failed")
    assert [(e.actor, e.outcome) for e in failed] == [("alice", "failure"), ("mallory", "failure")]
    assert client.get("/").status_code == 302  # still signed out


def test_login_without_csrf_token_is_refused(client, make_user, db):
    make_user("alice", "agent")
    response = client.post("/login", data={"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 400
    assert events(db, "auth.login") == []


def test_login_redirects_only_to_local_paths(client, make_user, csrf):
    make_user("alice", "agent")
    for target, expected in [("/customers/13800000000", "/customers/13800000000"),
                             ("https://evil.example/", "/"), ("//evil.example/x", "/")]:
        page = client.get("/login?next=" + target).get_data(as_text=True)
        response = client.post("/login", data={"username": "alice", "password": "correct horse battery",
                                               "next": target, "csrf_token": csrf(page)})
        assert response.headers["Location"] == expected


def test_logout_ends_the_session_and_is_audited(client, agent, db, csrf):
    page = client.get("/logout").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    [event] = events(db, "auth.logout")
    assert event.actor == "alice"


def test_logout_needs_csrf(client, agent):
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_disabled_operator_loses_the_session(client, agent, db):
    agent.enabled = False
    db.merge(agent)
    db.commit()
    assert client.get("/").status_code == 302
