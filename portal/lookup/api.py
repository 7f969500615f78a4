"""``GET /api/v1/customers/{number}``: the combined view as JSON (DESIGN §5).

Bodies: :mod:`portal.lookup.schemas`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from portal.db import get_session
from portal.lookup.links import quick_channel_url
from portal.lookup.schemas import RevealRequest
from portal.lookup.service import LookupService
from portal.rbac.decorators import require
from portal.sso.identity import current_actor
from portal.web import json_body, signed_in

bp = Blueprint("lookup_api", __name__, url_prefix="/api/v1")


def service() -> LookupService:
    lookups: LookupService = current_app.extensions["portal.lookup"]
    return lookups


@bp.get("/customers/<number>")
@require("customer.lookup")
def customer(number: str) -> Response:
    view = service().lookup(number, signed_in(), get_session(), current_actor(), link_for=quick_channel_url)
    return jsonify(view.to_dict())


@bp.post("/customers/<number>/reveal")
@require("customer.reveal")
def reveal(number: str) -> Response:
    # A missing or non-text ``system``/``field`` is a 422 naming it (it used to become the text "None").
    body = json_body(RevealRequest)
    value = service().reveal(number, body.system, body.field, signed_in(), get_session(), current_actor())
    return jsonify({"customer": number, "system": body.system, "field": body.field, "value": value})
