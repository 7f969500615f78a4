"""``GET /api/v1/customers/{number}``: the combined view as JSON (DESIGN §5)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

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


@bp.post("/customers/<number>/reveal")
@require("customer.reveal")
def reveal(number: str):
    body = request.get_json(silent=True) or {}
    system_id, field_name = str(body.get("system", "")), str(body.get("field", ""))
    value = current_app.extensions["portal.lookup"].reveal(
        number, system_id, field_name, current_operator(), get_session(), current_actor()
    )
    return jsonify({"customer": number, "system": system_id, "field": field_name, "value": value})
