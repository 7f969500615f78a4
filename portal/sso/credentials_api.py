"""``/api/v1/sso/credentials``: form-mode and service-account credentials, write-only secrets."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from portal.db import get_session
from portal.rbac.decorators import require
from portal.sso.credentials import CredentialAdmin
from portal.sso.identity import current_actor, current_operator
from portal.web import json_object

bp = Blueprint("credentials_api", __name__, url_prefix="/api/v1/sso/credentials")


def credentials() -> CredentialAdmin:
    # Built per request: the catalogue is set up after sign-in, and both are shared objects anyway.
    return CredentialAdmin(current_app.extensions["portal.credentials"], current_app.extensions["portal.catalog"],
                           current_app.extensions.get("portal.boundary"))


@bp.get("")
@require()
def list_credentials():
    session, operator = get_session(), current_operator()
    admin = credentials()
    return jsonify({"credentials": [e.to_dict() for e in admin.listing(session, operator)],
                    "systems": admin.manageable(session, operator),
                    "bindings": [s.to_dict() for s in admin.bindings(session, operator)]})


@bp.put("/<system_id>/<operator>")
@require()
def set_credentials(system_id: str, operator: str):
    entry = credentials().store(get_session(), current_operator(), current_actor(), system_id, operator,
                                json_object())
    return jsonify(entry.to_dict())


@bp.delete("/<system_id>/<operator>")
@require()
def remove_credentials(system_id: str, operator: str):
    credentials().remove(get_session(), current_operator(), current_actor(), system_id, operator)
    return "", 204
