"""Database engine, sessions and the declarative base.

The engine lives in ``app.extensions["portal.db"]``; a request gets one
:class:`sqlalchemy.orm.Session` (``get_session()``): the request's unit of work, committed once
when the response succeeds and rolled back when it is an error (4xx/5xx). Engine code takes a ``Session``
argument and never imports Flask.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, overload

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

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


def utcnow() -> datetime:
    """Now, aware, in UTC: what the portal stores."""
    return datetime.now(timezone.utc)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC. SQLite hands back naive datetimes; the portal only ever stores UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


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
    def end_unit_of_work(response):
        """One request, one unit of work: services flush, and here it commits, or rolls back on a 4xx/5xx."""
        session = g.get("db_session")
        if session is not None:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
        return response

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
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
