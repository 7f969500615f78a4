"""Shared fixtures: the simulated back office, services, app, db and client.

Every pytest-xdist worker (``pytest -n auto``) has its own of everything: a back
office on free ports with adapter files rendered for them, its own PostgreSQL
database (when ``PORTAL_DATABASE_URL`` is set), SQLite files in its own tmp
folders. So the suite runs in parallel, and beside a running ``portal demo``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

import pytest

# The demo complaints system's service account; real deployments set these in the environment.
os.environ.setdefault("PORTAL_CRED_COMPLAINTS_USERNAME", "portal-svc")
os.environ.setdefault("PORTAL_CRED_COMPLAINTS_PASSWORD", "complaints-demo")


@pytest.fixture(scope="session")
def backoffice_session():
    """All twelve simulated systems on free loopback ports, once per test session (and xdist worker).

    Where they listen: ``backoffice_session.addresses`` (or a system's ``.port``,
    ``.ui_port``, ``.base_url``); never the README's fixed ports, which a running
    demo may hold.
    """
    from portal.demo.backoffice import BackOffice

    with BackOffice(ports="free") as backoffice:
        yield backoffice


@pytest.fixture
def backoffice(backoffice_session):
    """The running back office, put back to normal (all up, no delay, no hang) after the test."""
    yield backoffice_session
    backoffice_session.reset()


@pytest.fixture(scope="session")
def demo_adapters_dir(backoffice_session, tmp_path_factory):
    """The twelve demo adapter files, rendered for the session's back office (read-only: copy to change)."""
    from portal.demo.adapter_files import write_adapters

    return write_adapters(backoffice_session.addresses, tmp_path_factory.mktemp("demo-adapters"))


@pytest.fixture(scope="session")
def demo_egress_allow(backoffice_session) -> Callable[..., list[dict]]:
    """``demo_egress_allow(*extra_ports)``: the rule allowing exactly the session back office's ports
    on loopback (as ``portal demo`` allows its own), plus a rule for a test's own servers' ports."""

    def rules(*extra_ports: int) -> list[dict]:
        allowed = backoffice_session.addresses.egress_allow()
        if extra_ports:
            allowed.append({"name": "test servers", "hosts": ["127.0.0.1"], "ports": [int(p) for p in extra_ports]})
        return allowed

    return rules


@pytest.fixture
def exclusive():
    """``exclusive(name)``: wait for, then hold until the test ends, the machine-wide lock ``name``.

    For what every test process on this machine shares (a Redis database a test empties, the
    fixed ports): xdist workers, and other test runs, take turns. A lock file rather than
    ``xdist_group``: that is per run, and with pytest 9.2 ``--dist loadgroup`` silently stops
    grouping (pytest-dev/pytest-xdist#1386).
    """
    import fcntl
    import tempfile

    held = []

    def take(name: str) -> None:
        lock = open(Path(tempfile.gettempdir()) / f"service-desk-portal-tests.{name}.lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed (or the process ends)
        held.append(lock)

    yield take
    for lock in held:
        lock.close()


@pytest.fixture
def fixed_port_taken(exclusive):
    """BOSS's fixed port 8201 taken during the test: by this fixture, or already (a running demo).

    Such tests take turns (``exclusive``), so that none frees the port while another relies on it.
    """
    import socket

    exclusive("fixed-ports")
    squatter = socket.socket()
    try:
        squatter.bind(("127.0.0.1", 8201))
        squatter.listen()
    except OSError:
        pass  # somebody else's: taken all the same
    try:
        yield 8201
    finally:
        squatter.close()


# --- services: PostgreSQL and Redis ---------------------------------------------------

REQUIRE_SERVICES = "PORTAL_REQUIRE_SERVICES"


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test for a missing Redis or PostgreSQL, or fail it under ``PORTAL_REQUIRE_SERVICES=1``.

    CI sets the variable (``.ci/run``): there a missing service is a broken machine,
    and a silent skip would hide every test that needs it.
    """
    if os.environ.get(REQUIRE_SERVICES) == "1":
        pytest.fail(f"{reason} ({REQUIRE_SERVICES}=1: a missing service fails the test)", pytrace=False)
    pytest.skip(reason)


def require_redis(url: str):
    """A client of the Redis at ``url``, answering; else :func:`service_unavailable`."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        service_unavailable(f"no Redis at {url}: {exc.__class__.__name__}")
    return client


# --- the portal: app, database, client, operators -------------------------------------

import re  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url():
    """The PostgreSQL the tests use, or None (SQLite): ``PORTAL_DATABASE_URL``, or under pytest-xdist
    this worker's own database beside it (``test_gw0`` for ``.../test``), made now and dropped at the end,
    so that workers never empty each other's schema."""
    url = os.environ.get("PORTAL_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        yield url
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    shared = make_url(url)
    own = shared.set(database=f"{shared.database}_{worker}")
    # CREATE/DROP DATABASE cannot run inside a transaction, nor while connected to that database.
    admin = create_engine(shared.set(database="postgres"), isolation_level="AUTOCOMMIT")
    drop = text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)')  # a crashed run's leftover too
    with admin.connect() as connection:
        connection.execute(drop)
        connection.execute(text(f'CREATE DATABASE "{own.database}"'))
    try:
        yield own.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(drop)
        admin.dispose()


@pytest.fixture
def database_url(tmp_path, postgres_url):
    """A fresh, empty database: this worker's PostgreSQL when PORTAL_DATABASE_URL is set, else SQLite."""
    if postgres_url:
        _reset_postgres(postgres_url)
        return postgres_url
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def settings_overrides(tmp_path, database_url, demo_adapters_dir, demo_egress_allow):
    return {
        "testing": True,
        "database_url": database_url,
        "data_dir": str(tmp_path / "var"),
        "secret_key": "test-secret-key-not-for-production",
        "session_cookie_secure": False,
        "adapters_dir": str(demo_adapters_dir),
        # Adapters may reach the session's back office and nothing else on loopback, like `portal demo`.
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
    """Empty the PostgreSQL schema of a URL (for fixtures wider than one test: pass ``postgres_url``)."""
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
