"""``/api/v1/sso/credentials``: form-mode and service-account credentials, write-only secrets.

Bodies: :mod:`portal.sso.schemas`.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from portal.db import get_session
from portal.rbac.decorators import require
from portal.sso.credential_admin import credential_admin
from portal.sso.identity import current_actor
from portal.sso.schemas import CredentialBody
from portal.web import json_body, signed_in

bp = Blueprint("credentials_api", __name__, url_prefix="/api/v1/sso/credentials")


@bp.get("")
@require()
def list_credentials() -> Response:
    session, operator = get_session(), signed_in()
    admin = credential_admin()
    return jsonify({"credentials": [e.to_dict() for e in admin.listing(session, operator)],
                    "systems": admin.manageable(session, operator),
                    "bindings": [s.to_dict() for s in admin.bindings(session, operator)]})


@bp.put("/<system_id>/<operator>")
@require()
def set_credentials(system_id: str, operator: str) -> Response:
    admin, session = credential_admin(), get_session()
    admin.authorise(session, signed_in(), system_id)  # 404/403 before anything about the body
    body = json_body(CredentialBody)
    entry = admin.store(session, signed_in(), current_actor(), system_id, operator, body.model_dump())
    return jsonify(entry.to_dict())


@bp.delete("/<system_id>/<operator>")
@require()
def remove_credentials(system_id: str, operator: str) -> tuple[str, int]:
    credential_admin().remove(get_session(), signed_in(), current_actor(), system_id, operator)
    return "", 204
