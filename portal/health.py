"""``/healthz`` (the process answers) and ``/readyz`` (its database, and Redis when configured, do too).

``/readyz`` answers 503 when a dependency the instance cannot serve without is unreachable, so a load
balancer takes the instance out of rotation; ``/healthz`` stays trivial so that a slow database never
gets a live process restarted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, current_app

from portal.monitor.selfcheck import dependencies
from portal.rbac.decorators import public

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public("the load balancer's liveness probe")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@public("the load balancer's readiness probe")
def readyz():
    database, redis = dependencies(current_app)
    body = {"status": "ok", "database": "ok" if database.ok else "unreachable"}
    if redis is not None:
        body["redis"] = "ok" if redis.ok else "unreachable"
    ready = database.ok and (redis is None or redis.ok)
    if not ready:
        body["status"] = "unavailable"
    return body, 200 if ready else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
