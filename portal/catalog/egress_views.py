"""``/admin/egress`` and ``GET /api/v1/egress``: the egress policy in force, read-only, for admins.

Admins change the policy in ``portal.toml`` (``[egress]``, docs/adapters.md);
this page shows what this portal process actually enforces: the rules as
parsed, the destinations refused unless a rule lists them explicitly, and the
portal's own services that adapters may not reach.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template

from portal.adapters.boundary import Boundary, describe
from portal.rbac.decorators import require

PERMISSION = "adapters.manage"

bp = Blueprint("egress", __name__, url_prefix="/admin/egress")
api_bp = Blueprint("egress_api", __name__, url_prefix="/api/v1/egress")


def egress_report() -> dict[str, Any]:
    """The boundary of this app as admins read it: ``{"enforced", "egress": {...}, "boundary": {...}}``."""
    boundary: Boundary = current_app.extensions["portal.boundary"]
    policy = boundary.egress
    return {
        "enforced": boundary.guarded and policy is not None,
        "egress": policy.describe() if policy is not None else None,
        "boundary": describe(boundary),
    }


@bp.get("")
@require(PERMISSION)
def index():
    return render_template("admin/egress.html", report=egress_report())


@api_bp.get("")
@require(PERMISSION)
def show():
    return jsonify(egress_report())
