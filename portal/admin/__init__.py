"""Administration pages and API: operators, roles, and the explain view."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.admin import explain, roles_api, roles_views, users_api, users_views

    for module in (users_api, roles_api, users_views, roles_views, explain):
        app.register_blueprint(module.bp)
