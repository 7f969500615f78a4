"""/healthz and /readyz, as a load balancer sees them."""

from __future__ import annotations

import socket

import pytest

REDIS_URL = "redis://127.0.0.1:6379/13"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def make_app(settings_overrides):
    from portal import create_app
    from tests.conftest import close_app

    apps = []

    def make(**overrides):
        app = create_app({**settings_overrides, **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


def test_healthz_answers_while_the_process_lives(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_ok_with_a_reachable_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'portal.db'}")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert app.test_client().get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_is_503_when_the_configured_redis_is_unreachable(app, make_app):
    other = make_app(redis_url=f"redis://127.0.0.1:{closed_port()}/0", session_store="database")
    response = other.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok", "redis": "unreachable"}


def test_readyz_checks_a_reachable_redis(app, make_app):
    from tests.conftest import require_redis

    require_redis(REDIS_URL).close()
    other = make_app(redis_url=REDIS_URL, session_store="database")
    response = other.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}
