"""``/api/v1/monitor``: system states, one system's history, maintenance windows (DESIGN §5).

Same engine as the pages (:mod:`portal.monitor.queries`, :mod:`portal.monitor.selfcheck`); errors are
problem+json via :mod:`portal.errors`; bearer tokens or the session (with CSRF for writes).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for

from portal.db import get_session, utcnow
from portal.errors import ResourceNotFound
from portal.monitor import maintenance, queries, selfcheck
from portal.monitor.models import MaintenanceWindow
from portal.monitor.views import adapter_or_404, systems_in_force
from portal.rbac.decorators import require
from portal.sso.identity import current_actor, current_operator
from portal.web import created, json_object, path_number

bp = Blueprint("monitor_api", __name__, url_prefix="/api/v1")


@bp.get("/monitor")
@require("monitor.read")
def overview():
    session = get_session()
    systems = queries.overview(session, current_app.extensions["portal.catalog"].adapters(session))
    health = selfcheck.portal_health(current_app, session)
    return jsonify({"generated_at": queries.iso(health.checked_at), "systems": [s.to_dict() for s in systems],
                    "portal": health.to_dict()})


@bp.get("/monitor/systems/<adapter_id>")
@require("monitor.read")
def system(adapter_id: str):
    """One system: state, recent observations and errors, state history, alerts, maintenance windows."""
    return jsonify(queries.system_detail(get_session(), adapter_or_404(adapter_id)).to_dict())


@bp.get("/monitor/maintenance")
@require("monitor.read")
def list_windows():
    """Current and upcoming windows, soonest first (``?system=`` one system and ``*``; ``?past=true`` adds ended ones)."""
    system_id = request.args.get("system") or None
    past = request.args.get("past", "").lower() in ("1", "true", "yes")
    now = utcnow()
    windows = maintenance.list_windows(get_session(), system_id=system_id, include_past=past, now=now)
    return jsonify({"windows": [maintenance.window_document(w, now) for w in windows]})


@bp.post("/monitor/maintenance")
@require()
def create_window():
    """Open a window; the service checks monitor.manage, or adapters.own for the caller's own systems."""
    body = json_object()
    session = get_session()
    window = maintenance.create(session, current_operator(), current_actor(), systems_in_force(session),
                                system_id=body.get("system_id", body.get("system")), starts_at=body.get("starts_at"),
                                ends_at=body.get("ends_at"), reason=body.get("reason"))
    return created(maintenance.window_document(window),
                   url_for("monitor_api.get_window", number=str(window.id)))


@bp.get("/monitor/maintenance/<number>")
@require("monitor.read")
def get_window(number: str):
    window = get_session().get(MaintenanceWindow, window_number(number))
    if window is None:
        raise ResourceNotFound(f"no maintenance window {number[:20]}")
    return jsonify(maintenance.window_document(window))


@bp.delete("/monitor/maintenance/<number>")
@require()
def cancel_window(number: str):
    """End a current window now, or drop an upcoming one (409 when it is over already)."""
    session = get_session()
    maintenance.cancel(session, current_operator(), current_actor(), systems_in_force(session), window_number(number))
    return "", 204


def window_number(text: str) -> int:
    return path_number(text, "window")
