"""Sessions and sign-in counters in Redis (PORTAL_REDIS_URL), shared by every portal process.

Uses the Redis on 127.0.0.1:6379 (database 13, emptied by the test, which holds it meanwhile: other test
processes wait); skipped when none runs (failed under PORTAL_REQUIRE_SERVICES=1).
"""

import pytest

from tests.conftest import PASSWORD, csrf_token, require_redis

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def redis_app(settings_overrides, exclusive):
    client = require_redis(REDIS_URL)
    exclusive("redis-db-13")
    client.flushdb()
    from portal import create_app, migrate
    from portal.db import get_database

    apps = []

    def make():
        app = create_app({**settings_overrides, "redis_url": REDIS_URL})
        with app.app_context():
            migrate.upgrade(get_database().engine)
        apps.append(app)
        return app

    yield make, client
    client.flushdb()
    for app in apps:
        app.extensions["portal.db"].dispose()


def sign_in(client, username, password=PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(page)})


def test_sessions_live_in_redis_and_work_on_every_instance(redis_app, clock):
    from portal.accounts.service import create_user
    from portal.sso.stores import RedisSessionStore

    make, redis = redis_app
    first, second = make(), make()
    assert isinstance(first.extensions["portal.session_store"], RedisSessionStore)
    with first.extensions["portal.db"].session() as db:
        create_user(db, "alice", PASSWORD, ["agent"])
        db.commit()
    browser = first.test_client()
    assert sign_in(browser, "alice").status_code == 302
    sid = browser.get_cookie("portal_session").value
    assert any(key.startswith(b"portal:session:") for key in redis.keys())
    other = second.test_client()
    other.set_cookie("portal_session", sid)
    assert other.get("/").status_code == 200  # the second instance knows the session
    clock.advance(31 * 60)
    assert other.get("/").status_code == 302  # idle timeout holds there too


def test_admin_end_sessions_and_lockout_with_redis(redis_app):
    from portal.accounts import admin
    from portal.accounts.service import create_user
    from portal.audit.record import Actor

    make, redis = redis_app
    app = make()
    with app.extensions["portal.db"].session() as db:
        create_user(db, "alice", PASSWORD, ["agent"])
        db.commit()
    browser = app.test_client()
    sign_in(browser, "alice")
    uid = browser.get("/session/status").get_json()
    assert uid["authenticated"]
    store = app.extensions["portal.session_store"]
    with app.extensions["portal.db"].session() as db:
        admin.end_sessions(db, Actor("root"), "alice")
        db.commit()
        from portal.accounts.service import find_user

        assert store.delete_for_user(find_user(db, "alice").id) >= 0
    assert browser.get("/").status_code == 302
    other = make().test_client()
    codes = [sign_in(other, "bob", "wrong password").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    assert redis.exists("portal:throttle:user:bob")
