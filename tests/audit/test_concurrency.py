"""Several portal processes writing at once keep one valid chain (PostgreSQL and SQLite)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, text

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


WRITER = """
import os, sys, time
from sqlalchemy.orm import sessionmaker
from portal.audit.record import Actor, Event, record
from portal.db import make_engine

url, worker, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
engine = make_engine(url)
sessions = sessionmaker(engine, expire_on_commit=False)
while not os.path.exists(go):  # start together
    time.sleep(0.005)
written = 0
with sessions() as session:
    while written < count:
        # Mostly one event per transaction, sometimes three (like an import), as the portal does.
        batch = 3 if written % 10 == 0 and written + 3 <= count else 1
        for _ in range(batch):
            record(session, Actor(f"worker{worker}", ("agent",)),
                   Event(action="customer.lookup", customer=f"1380000{worker:04d}",
                         details={"systems": {"boss": "ok"}, "n": written}))
            written += 1
        session.commit()
engine.dispose()
"""


def _run_writers(url: str, processes: int, count: int, tmp_path) -> None:
    go = tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(i), str(count), str(go)])
               for i in range(processes)]
    go.write_text("go")
    assert [w.wait(timeout=300) for w in workers] == [0] * processes


def _migrated(url: str) -> None:
    from portal import migrate
    from portal.db import make_engine

    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()


def _verify(url: str):
    from sqlalchemy.orm import Session

    from portal.audit import query
    from portal.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        report = query.verify(session)
        actors = session.execute(text("SELECT actor, count(*) FROM audit_events GROUP BY actor")).all()
    engine.dispose()
    return report, dict(actors)


@pytest.fixture
def private_postgres():
    """A throwaway PostgreSQL database of this test's own (never the shared one)."""
    name = f"audit_concurrency_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        from tests.conftest import service_unavailable

        service_unavailable(f"no PostgreSQL on 127.0.0.1:5432: {exc.__class__.__name__}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_four_processes_500_events_each_on_postgresql(private_postgres, tmp_path):
    _migrated(private_postgres)
    _run_writers(private_postgres, processes=4, count=500, tmp_path=tmp_path)
    report, actors = _verify(private_postgres)
    assert report.ok, report.problems[:5]
    assert report.checked == 2000 and report.head_seq == 2000
    assert actors == {f"worker{i}": 500 for i in range(4)}


def test_four_processes_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    _migrated(url)
    _run_writers(url, processes=4, count=100, tmp_path=tmp_path)
    report, actors = _verify(url)
    assert report.ok, report.problems[:5]
    assert report.checked == 400
    assert actors == {f"worker{i}": 100 for i in range(4)}
