"""Operators, their roles and personal API tokens; bulk import from legacy systems."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.accounts import import_views

    app.register_blueprint(import_views.bp)
