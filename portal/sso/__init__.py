"""Sign-in: local passwords, sessions, API tokens; identity-provider login and hand-offs grow here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.sso import identity, views

    identity.init_app(app)
    app.register_blueprint(views.bp)
