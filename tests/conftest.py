"""Shared fixtures: the simulated back office (and, added later, app, db and client)."""

from __future__ import annotations

import os

import pytest

# The demo complaints system's service account; real deployments set these in the environment.
os.environ.setdefault("PORTAL_CRED_COMPLAINTS_USERNAME", "portal-svc")
os.environ.setdefault("PORTAL_CRED_COMPLAINTS_PASSWORD", "complaints-demo")


@pytest.fixture(autouse=True)
def no_wsdl_disk_cache():
    """A WSDL cached on disk by one test (apps point the cache at their data folder) must not
    answer for another test's server that happens to get the same port."""
    from portal.adapters.soap import set_cache_dir

    yield
    set_cache_dir(None)


@pytest.fixture(scope="session")
def backoffice_session():
    """All twelve simulated systems on their loopback ports, once per test session."""
    from portal.demo.backoffice import BackOffice

    with BackOffice() as backoffice:
        yield backoffice


@pytest.fixture
def backoffice(backoffice_session):
    """The running back office, put back to normal (all up, no delay, no hang) after the test."""
    yield backoffice_session
    backoffice_session.reset()


# --- the portal: app, database, client, operators -------------------------------------

import re  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def demo_egress_allow(*extra_ports: int) -> list[dict]:
    """The demo's egress rule, plus a rule for the loopback ``extra_ports`` of a test's own servers."""
    from portal.demo.catalogue import egress_allow

    rules = egress_allow()
    if extra_ports:
        rules.append({"name": "test servers", "hosts": ["127.0.0.1"], "ports": [int(p) for p in extra_ports]})
    return rules
PASSWORD = "correct horse battery"


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path):
    """A fresh, empty database: the PostgreSQL of PORTAL_DATABASE_URL when set, else SQLite."""
    url = os.environ.get("PORTAL_DATABASE_URL")
    if url:
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def settings_overrides(tmp_path, database_url):
    return {
        "testing": True,
        "database_url": database_url,
        "data_dir": str(tmp_path / "var"),
        "secret_key": "test-secret-key-not-for-production",
        "session_cookie_secure": False,
        "adapters_dir": str(REPO / "config" / "adapters"),
        # Adapters may reach the simulated back office and nothing else on loopback, like `portal demo`.
        "egress_allow": demo_egress_allow(),
        # Argon2id at 1 MiB and one pass: a sign-in in ~2 ms instead of ~170 ms (tests sign in a lot).
        "passwords_time_cost": 1,
        "passwords_memory_kib": 1024,
        "passwords_parallelism": 1,
    }


@pytest.fixture
def app(settings_overrides):
    from portal import create_app, migrate
    from portal.db import get_database

    app = create_app(settings_overrides)
    with app.app_context():
        migrate.upgrade(get_database().engine)
    yield app
    close_app(app)


def close_app(app) -> None:
    """Release what an app holds: adapter connection pools (and their reaper thread), database pool."""
    app.extensions["portal.catalog"].close()
    app.extensions["portal.db"].dispose()


@pytest.fixture
def db(app):
    """A database session outside any request, for arranging and checking."""
    session = app.extensions["portal.db"].session()
    yield session
    session.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(db):
    from portal.accounts.service import create_user

    def make(username: str, *roles: str, password: str = PASSWORD):
        user = create_user(db, username, password, list(roles or ("agent",)))
        db.commit()
        return user

    return make


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def login(client):
    def do_login(username: str, password: str = PASSWORD, follow: bool = False):
        page = client.get("/login")
        return client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_token(page.get_data(as_text=True))},
            follow_redirects=follow,
        )

    return do_login


@pytest.fixture
def agent(make_user, login):
    """A signed-in agent."""
    user = make_user("alice", "agent")
    response = login("alice")
    assert response.status_code == 302
    return user


@pytest.fixture
def token(app, make_user):
    """A personal API token of an agent."""
    from portal.accounts.service import issue_token

    make_user("apiagent", "agent")
    with app.extensions["portal.db"].session() as session:
        _, value = issue_token(session, "apiagent")
        session.commit()
    return value


@pytest.fixture
def csrf():
    """Pull the CSRF token out of a page's HTML."""
    return csrf_token


@pytest.fixture(scope="session")
def reset_postgres():
    """Empty the PostgreSQL schema (for fixtures wider than one test)."""
    return _reset_postgres


@pytest.fixture
def cli(settings_overrides, monkeypatch):
    """``cli(*args, input=None)``: the ``portal`` command on the test's settings (lists as JSON)."""
    import json

    from click.testing import CliRunner

    from portal.cli import main

    for key, value in settings_overrides.items():
        if key != "testing":
            text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
            monkeypatch.setenv(f"PORTAL_{key.upper()}", text)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke
