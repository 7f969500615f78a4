"""Monitoring: back-office health, alerts to administrators, the portal's own health and metrics.

``states`` judges a system from observations (hysteresis); ``probes`` observes between lookups;
``checker`` records probes and real lookups; ``lease`` lets one monitor process act at a time;
``alerts``/``channels`` tell people; ``maintenance`` silences planned outages; ``queries`` and
``selfcheck`` compute what ``views``/``api`` show; ``metrics`` serves Prometheus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.monitor import api, metrics, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    metrics.init_app(app)
