"""``/admin/egress``: the egress policy in force, read-only, for admins.

Admins change the policy in ``portal.toml`` (``[egress]``, docs/adapters.md);
this page shows what this portal process actually enforces: the rules as
parsed, the destinations refused unless a rule lists them explicitly, and the
portal's own services that adapters may not reach. ``GET /api/v1/egress``
(:mod:`portal.catalog.egress_api`) answers the same document as JSON.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from portal.catalog.egress_report import egress_report
from portal.rbac.decorators import require

PERMISSION = "adapters.manage"

bp = Blueprint("egress", __name__, url_prefix="/admin/egress")


@bp.get("")
@require(PERMISSION)
def index():
    return render_template("admin/egress.html", report=egress_report(current_app.extensions["portal.boundary"]))
