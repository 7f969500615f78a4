"""Unified service-desk portal: one login, one customer number, one combined view."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal. ``config`` overrides every other settings source (used by tests)."""
    from portal import accounts, admin, audit, catalog, db, errors, health, lookup, monitor, openapi, sso, web
    from portal.config import ensure_secret_key, load_settings

    settings = load_settings(config)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=ensure_secret_key(settings),
        TESTING=settings.testing,
        SESSION_COOKIE_NAME="portal_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        # Flask's default is a 31-day session; ours ends after the idle timeout.
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_idle_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_TIME_LIMIT=settings.session_idle_minutes * 60,
        MAX_CONTENT_LENGTH=1 * 1024 * 1024,
    )
    app.json.sort_keys = False  # documents keep the order people wrote them in (Flask 3: not a config key)
    app.extensions["portal.settings"] = settings

    db.init_app(app, settings.resolved_database_url)
    errors.init_app(app)
    web.init_app(app)
    sso.init_app(app)
    accounts.init_app(app)
    catalog.init_app(app)
    lookup.init_app(app)
    admin.init_app(app)
    audit.init_app(app)
    monitor.init_app(app)
    health.init_app(app)
    openapi.init_app(app)
    return app
