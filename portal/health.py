"""``/healthz`` (the process answers) and ``/readyz`` (and its database does too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.db import get_database

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    try:
        with get_database().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
