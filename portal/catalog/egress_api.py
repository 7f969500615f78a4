"""``GET /api/v1/egress``: the egress policy in force, read-only, for admins (``adapters.manage``).

Body: :class:`portal.catalog.egress_schemas.EgressReport`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from portal.catalog.egress_report import egress_report
from portal.rbac.decorators import require

bp = Blueprint("egress_api", __name__, url_prefix="/api/v1/egress")


@bp.get("")
@require("adapters.manage")
def show() -> Response:
    return jsonify(egress_report(current_app.extensions["portal.boundary"]))
