"""Brute-force protection: per account and per address, lockout and its expiry, one message, audited."""

from sqlalchemy import select

from portal.audit.models import AuditEvent
from tests.conftest import PASSWORD

LOCKED = "Too many failed sign-ins"


def events(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_lockout_after_repeated_failures_then_it_expires(client, make_user, login, db, clock):
    make_user("alice", "agent")
    for _ in range(5):
        assert login("alice", "wrong password").status_code == 401
    locked = login("alice")  # even the right password is refused while locked
    assert locked.status_code == 429 and LOCKED in locked.get_data(as_text=True)
    [lockout] = events(db, "auth.lockout")
    assert lockout.target == "user:alice" and lockout.details["lock"] == "user"
    refused = [e for e in events(db, "auth.login_failed") if e.details.get("reason") == "locked"]
    assert len(refused) == 1
    clock.advance(16 * 60)
    assert login("alice").status_code == 302  # the lock has expired


def test_unknown_and_known_usernames_lock_alike(client, make_user, login):
    make_user("alice", "agent")
    answers = {}
    for name in ("alice", "nobody"):
        codes = [login(name, "wrong password").status_code for _ in range(6)]
        answers[name] = codes
        assert LOCKED in login(name, "wrong password").get_data(as_text=True)
    assert answers["alice"] == answers["nobody"] == [401] * 5 + [429]


def test_success_clears_the_account_counter(client, make_user, login):
    make_user("alice", "agent")
    for _ in range(4):
        login("alice", "wrong password")
    assert login("alice").status_code == 302
    client.post("/logout")
    for _ in range(4):
        assert login("alice", "wrong password").status_code == 401


def test_one_address_spraying_many_accounts_is_locked(settings_overrides, make_user, db):
    from portal import create_app
    from tests.conftest import csrf_token

    app = create_app({**settings_overrides, "login_max_failures_per_address": 6})
    client = app.test_client()

    def attempt(name, password="wrong password"):
        page = client.get("/login").get_data(as_text=True)
        return client.post("/login", data={"username": name, "password": password,
                                           "csrf_token": csrf_token(page)}).status_code

    make_user("alice", "agent")
    assert [attempt(f"user{i}") for i in range(6)] == [401] * 6
    assert attempt("alice", PASSWORD) == 429  # the address is locked, whatever the account
    assert any(e.details["lock"] == "addr" for e in events(db, "auth.lockout"))
    other = app.test_client()
    page = other.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.9"}).get_data(as_text=True)
    ok = other.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(page)},
                    environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert ok.status_code == 302  # another address is not


def test_counters_are_shared_by_every_portal_process(settings_overrides, make_user, login, client):
    """Two app instances on one database see the same lock (as two processes behind a balancer would)."""
    from portal import create_app
    from tests.conftest import csrf_token

    make_user("alice", "agent")
    for _ in range(5):
        login("alice", "wrong password")
    other = create_app(settings_overrides).test_client()
    page = other.get("/login").get_data(as_text=True)
    response = other.post("/login", data={"username": "alice", "password": PASSWORD,
                                          "csrf_token": csrf_token(page)})
    assert response.status_code == 429
