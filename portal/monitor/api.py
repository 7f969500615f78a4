"""``/api/v1/monitor``: system states, one system's history, maintenance windows (DESIGN §5).

Same engine as the pages (:mod:`portal.monitor.queries`, :mod:`portal.monitor.selfcheck`); errors are
problem+json via :mod:`portal.errors`; bearer tokens or the session (with CSRF for writes).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from portal.db import get_session
from portal.monitor import queries, selfcheck
from portal.monitor.views import adapter_or_404
from portal.rbac.decorators import require

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
