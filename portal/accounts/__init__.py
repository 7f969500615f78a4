"""Operators, their roles and personal API tokens; bulk import from legacy systems."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.accounts import import_api, import_views
    from portal.accounts.passwords import SESSION_KEY, Passwords

    settings = app.extensions["portal.settings"]
    # This app's hasher: in app.extensions, and on every session of its database for engine code.
    passwords = Passwords(time_cost=settings.passwords_time_cost, memory_kib=settings.passwords_memory_kib,
                          parallelism=settings.passwords_parallelism)
    app.extensions["portal.passwords"] = passwords
    app.extensions["portal.db"].provide(SESSION_KEY, passwords)
    app.register_blueprint(import_views.bp)
    app.register_blueprint(import_api.bp)
