"""``GET /api/v1/customers/{number}``: the combined view as JSON (DESIGN §5)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from portal.db import get_session
from portal.lookup.views import quick_channel_url
from portal.rbac.decorators import require
from portal.sso.identity import current_actor, current_operator

bp = Blueprint("lookup_api", __name__, url_prefix="/api/v1")


@bp.get("/customers/<number>")
@require("customer.lookup")
def customer(number: str):
    view = current_app.extensions["portal.lookup"].lookup(
        number, current_operator(), get_session(), current_actor(), link_for=quick_channel_url
    )
    return jsonify(view.to_dict())
