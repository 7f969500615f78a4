"""Operators, their roles and personal API tokens; bulk import from legacy systems."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.accounts import import_views, passwords

    settings = app.extensions["portal.settings"]
    passwords.configure(time_cost=settings.passwords_time_cost, memory_kib=settings.passwords_memory_kib,
                        parallelism=settings.passwords_parallelism)
    app.register_blueprint(import_views.bp)
