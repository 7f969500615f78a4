"""``/api/v1/monitor``: system states, one system's history, maintenance windows (DESIGN §5).

Same engine as the pages (:mod:`portal.monitor.queries`, :mod:`portal.monitor.selfcheck`); errors are
problem+json via :mod:`portal.errors`; bearer tokens or the session (with CSRF for writes).
Bodies: :mod:`portal.monitor.schemas`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from portal import clock
from portal.db import get_session
from portal.errors import ResourceNotFound
from portal.monitor import maintenance, queries, selfcheck
from portal.monitor.catalogue import adapter_or_404, systems_in_force
from portal.monitor.models import MaintenanceWindow
from portal.monitor.schemas import WindowRequest
from portal.rbac.decorators import require
from portal.sso.identity import current_actor
from portal.web import created, json_body, path_number, signed_in

bp = Blueprint("monitor_api", __name__, url_prefix="/api/v1")


@bp.get("/monitor")
@require("monitor.read")
def overview() -> Response:
    session = get_session()
    systems = queries.overview(session, current_app.extensions["portal.catalog"].adapters(session))
    health = selfcheck.portal_health(current_app, session)
    return jsonify({"generated_at": queries.iso(health.checked_at), "systems": [s.to_dict() for s in systems],
                    "portal": health.to_dict()})


@bp.get("/monitor/systems/<adapter_id>")
@require("monitor.read")
def system(adapter_id: str) -> Response:
    """One system: state, recent observations and errors, state history, alerts, maintenance windows."""
    return jsonify(queries.system_detail(get_session(), adapter_or_404(adapter_id)).to_dict())


@bp.get("/monitor/maintenance")
@require("monitor.read")
def list_windows() -> Response:
    """Current and upcoming windows, soonest first.

    ``?system=``: one system's windows and those for every system (``*``); ``?past=true`` adds ended ones.
    """
    system_id = request.args.get("system") or None
    past = request.args.get("past", "").lower() in ("1", "true", "yes")
    now = clock.utcnow()
    windows = maintenance.list_windows(get_session(), system_id=system_id, include_past=past, now=now)
    return jsonify({"windows": [maintenance.window_document(w, now) for w in windows]})


@bp.post("/monitor/maintenance")
@require()
def create_window() -> Response:
    """Open a window; the service checks monitor.manage, or adapters.own for the caller's own systems."""
    maintenance.require_some_right(signed_in())  # 403 before anything about the body
    body = json_body(WindowRequest)
    session = get_session()
    window = maintenance.create(session, signed_in(), current_actor(), systems_in_force(session),
                                system_id=body.system_id, starts_at=body.starts_at, ends_at=body.ends_at,
                                reason=body.reason)
    return created(maintenance.window_document(window),
                   url_for("monitor_api.get_window", number=str(window.id)))


@bp.get("/monitor/maintenance/<number>")
@require("monitor.read")
def get_window(number: str) -> Response:
    window = get_session().get(MaintenanceWindow, window_number(number))
    if window is None:
        raise ResourceNotFound(f"no maintenance window {number[:20]}")
    return jsonify(maintenance.window_document(window))


@bp.delete("/monitor/maintenance/<number>")
@require()
def cancel_window(number: str) -> tuple[str, int]:
    """End a current window now, or drop an upcoming one (409 when it is over already)."""
    session = get_session()
    maintenance.cancel(session, signed_in(), current_actor(), systems_in_force(session), window_number(number))
    return "", 204


def window_number(text: str) -> int:
    # Window ids are INTEGER columns: a larger number names no window, and PostgreSQL would refuse it.
    return path_number(text, "window", maximum=2**31 - 1)
