"""Database engine, sessions and the declarative base.

The engine lives in ``app.extensions["portal.db"]``; a request gets one
:class:`sqlalchemy.orm.Session` (``get_session()``): the request's unit of work, committed once
when the response succeeds and rolled back when it is an error (4xx/5xx). Engine code takes a ``Session``
argument and never imports Flask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from portal.clock import as_utc

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

# Stable constraint names, so Alembic migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp column that always gives back an aware UTC datetime, on every database.

    Stored as ``DateTime(timezone=True)`` (so the schema, and the migrations, stay the same):
    PostgreSQL keeps ``timestamptz``; SQLite keeps text without a zone and hands back naive values,
    which are made aware here. A value is converted to UTC on the way in (a naive one is taken to be
    UTC already), so SQLite never stores another zone's wall-clock time. Every model's datetime
    column uses it; code reading such a column needs no ``as_utc``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Database:
    """One engine and session factory per app."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def provide(self, key: str, value: object) -> None:
        """Give every session of this database ``session.info[key] = value`` from now on.

        How a per-app object that engine code needs reaches it without Flask: engine functions
        get a session, and the session knows its app's objects (e.g. the password hasher,
        :func:`portal.accounts.passwords.passwords_for`). The object itself lives in
        ``app.extensions``; two apps in one process never share it.
        """
        info = dict(self.sessions.kw.get("info") or {})
        info[key] = value
        self.sessions.configure(info=info)

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.close()


def init_app(app: Flask, url: str) -> None:
    from flask import g

    database = Database(url)
    app.extensions["portal.db"] = database

    @app.after_request
    def end_request_unit_of_work(response):
        """One request, one unit of work: services flush, and here it commits, or rolls back on a 4xx/5xx."""
        session = g.get("db_session")
        if session is not None:
            end_unit_of_work(session, ok=response.status_code < 400)
        return response

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


#: ``session.info`` key of the work that must be written whatever the outcome (e.g. refusals to audit).
ALWAYS_KEY = "portal.always"


def always(session: Session, write: Callable[[Session], object]) -> None:
    """Have ``write(session)`` done when the unit of work ends, committed even if the rest rolls back.

    Engine code records a refusal this way (``portal.audit.record.record_refusal``): the refused
    operation is rolled back, and the record that it was refused is kept.
    """
    session.info.setdefault(ALWAYS_KEY, []).append(write)


def end_unit_of_work(session: Session, ok: bool) -> None:
    """Commit the unit of work, or roll it back; in both cases write what must always be written."""
    if not ok:
        session.rollback()
    for write in session.info.pop(ALWAYS_KEY, []):
        write(session)
    session.commit()


def abandon(session: Session) -> None:
    """Roll back a unit of work whose operation was refused, though the page goes on (re-rendered or
    redirected with a message): a refused operation never commits half its work. What must always be
    written (refusals to audit) is kept for the end of the unit of work."""
    session.rollback()


@contextmanager
def unit_of_work(database: Database) -> Iterator[Session]:
    """A session for one CLI command or task: committed when the block ends, rolled back if it raises."""
    session = database.session()
    try:
        yield session
    except BaseException:
        end_unit_of_work(session, ok=False)
        raise
    else:
        end_unit_of_work(session, ok=True)
    finally:
        session.close()


def get_database() -> Database:
    from flask import current_app

    return current_app.extensions["portal.db"]


def get_session() -> Session:
    """The current request's session (created on first use)."""
    from flask import g

    if "db_session" not in g:
        g.db_session = get_database().session()
    return g.db_session
