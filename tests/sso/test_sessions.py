"""Server-side sessions: idle and absolute timeout, renewal at login, revocation, cookies, idle warning."""

from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.sso.models import SessionRow


def events(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def session_cookie(client):
    cookie = client.get_cookie("portal_session")
    return cookie.value if cookie else None


def test_the_cookie_holds_an_id_and_the_server_the_session(client, agent, db):
    sid = session_cookie(client)
    assert sid and "." not in sid  # not a signed cookie carrying data, just a random id
    rows = list(db.scalars(select(SessionRow).where(SessionRow.user_id == agent.id)))
    assert len(rows) == 1 and rows[0].handle != sid  # the store keeps only a hash of the id
    assert rows[0].data["uid"] == agent.id


def test_login_renews_the_session_id(client, make_user, login, db):
    make_user("alice", "agent")
    client.get("/login")
    before = session_cookie(client)
    assert before  # the login page's CSRF token already lives in an (anonymous) session
    login("alice")
    after = session_cookie(client)
    assert after and after != before
    client.set_cookie("portal_session", before)  # a planted pre-login id gives nothing afterwards
    assert client.get("/").status_code == 302


def test_idle_timeout_ends_the_session_and_is_audited(app, client, agent, db, clock):
    assert client.get("/").status_code == 200
    clock.advance(29 * 60)
    assert client.get("/").status_code == 200  # activity restarts the idle clock
    clock.advance(29 * 60)
    assert client.get("/").status_code == 200
    clock.advance(31 * 60)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    [event] = events(db, "auth.timeout")
    assert event.actor == "alice" and event.details["reason"] == "idle"
    page = client.get("/login").get_data(as_text=True)
    assert "Your session has ended" in page


def test_absolute_timeout_ends_even_an_active_session(client, agent, db, clock):
    for _ in range(21):  # ten and a half hours of steady work, a request every half hour
        clock.advance(29 * 60 + 30)
        if client.get("/").status_code != 200:
            break
    assert client.get("/").status_code == 302
    [event] = events(db, "auth.timeout")
    assert event.details["reason"] == "absolute"


def test_timeouts_come_from_settings(settings_overrides, make_user):
    from portal import create_app

    app = create_app({**settings_overrides, "session_idle_minutes": 5, "session_absolute_hours": 1})
    assert app.session_interface.idle_s == 300 and app.session_interface.absolute_s == 3600
    assert app.config["WTF_CSRF_TIME_LIMIT"] == 300


def test_logout_deletes_the_session_on_the_server(client, agent, db, csrf):
    sid = session_cookie(client)
    page = client.get("/logout").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf(page)})
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(SessionRow).where(SessionRow.user_id == agent.id)) == 0
    client.set_cookie("portal_session", sid)  # replaying the old cookie does not bring it back
    assert client.get("/").status_code == 302


def test_admin_ends_every_session_of_an_operator(app, make_user, login, db):
    from portal.accounts import admin
    from portal.audit.record import Actor

    make_user("alice", "agent")
    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        page = browser.get("/login").get_data(as_text=True)
        from tests.conftest import PASSWORD, csrf_token

        browser.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(page)})
        assert browser.get("/").status_code == 200
    admin.end_sessions(db, Actor("root"), "alice")
    db.commit()
    assert first.get("/").status_code == 302 and second.get("/").status_code == 302


def test_session_cookie_flags(settings_overrides, make_user):
    from portal import create_app

    app = create_app({**settings_overrides, "session_cookie_secure": True})
    client = app.test_client()
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert "Expires" not in cookie  # a browser-session cookie; the server decides when it ends


def test_status_poll_does_not_extend_the_session(client, agent, clock):
    status = client.get("/session/status").get_json()
    assert status["authenticated"] and 1790 < status["idle_s"] <= 1800 and status["warning_s"] == 120
    clock.advance(20 * 60)
    assert 590 < client.get("/session/status").get_json()["idle_s"] <= 600  # polling did not reset it
    clock.advance(11 * 60)
    assert client.get("/session/status").get_json()["authenticated"] is False


def test_keepalive_extends_and_needs_csrf(client, agent, clock, csrf):
    clock.advance(20 * 60)
    assert client.post("/session/keepalive").status_code == 400  # no CSRF token
    token = csrf(client.get("/").get_data(as_text=True).replace('name="csrf-token" content=', 'name="csrf_token" value='))
    clock.advance(5)
    assert client.post("/session/keepalive", headers={"X-CSRFToken": token}).status_code == 200
    assert client.get("/session/status").get_json()["idle_s"] > 1790


def test_pages_load_the_idle_warning_script_without_inline_code(client, agent):
    page = client.get("/").get_data(as_text=True)
    assert "sso-session.js" in page and 'name="session-status"' in page
    assert "<script>" not in page
    assert "script-src 'self'" in client.get("/").headers["Content-Security-Policy"]
    assert client.get("/static/sso-session.js").status_code == 200


def test_anonymous_visitors_leave_no_session_rows_without_a_form(client, db):
    client.get("/healthz")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(SessionRow)) == 0


def test_ended_sessions_are_swept_out(app, client, agent, db, clock):
    store = app.extensions["portal.session_store"]
    clock.advance(31 * 60)
    assert store.purge_expired(clock.now()) >= 1
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(SessionRow).where(SessionRow.user_id == agent.id)) == 0
