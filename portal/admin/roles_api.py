"""``/api/v1/roles``: roles with permissions, field grants and content rules (DESIGN §5)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from portal.db import get_session
from portal.errors import InvalidDocument
from portal.rbac import roles
from portal.rbac.decorators import require
from portal.sso.identity import current_actor

bp = Blueprint("roles_api", __name__, url_prefix="/api/v1/roles")


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidDocument(None, "send a JSON object (Content-Type: application/json)")
    return data


@bp.get("")
@require("roles.manage")
def list_roles():
    return jsonify({"roles": [roles.role_document(r) for r in roles.list_roles(get_session())]})


@bp.post("")
@require("roles.manage")
def create_role():
    role = roles.create(get_session(), current_actor(), body())
    response = jsonify(roles.role_document(role))
    response.status_code = 201
    response.headers["Location"] = url_for("roles_api.get_role", name=role.name)
    return response


@bp.get("/<name>")
@require("roles.manage")
def get_role(name: str):
    return jsonify(roles.role_document(roles.get_role(get_session(), name)))


@bp.put("/<name>")
@require("roles.manage")
def update_role(name: str):
    return jsonify(roles.role_document(roles.update(get_session(), current_actor(), name, body())))


@bp.delete("/<name>")
@require("roles.manage")
def delete_role(name: str):
    roles.delete(get_session(), current_actor(), name)
    return "", 204
