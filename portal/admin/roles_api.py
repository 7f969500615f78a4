"""``/api/v1/roles``: roles with permissions, field grants and content rules (DESIGN §5).

Bodies: :mod:`portal.admin.schemas`.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from portal.admin.schemas import RoleChange, RoleCreate
from portal.db import get_session
from portal.rbac import roles
from portal.rbac.decorators import require
from portal.sso.identity import current_actor
from portal.web import created, json_body

bp = Blueprint("roles_api", __name__, url_prefix="/api/v1/roles")


@bp.get("")
@require("roles.manage")
def list_roles() -> Response:
    return jsonify({"roles": [roles.role_document(r) for r in roles.list_roles(get_session())]})


@bp.post("")
@require("roles.manage")
def create_role() -> Response:
    body = json_body(RoleCreate).model_dump(mode="json", exclude_unset=True)
    role = roles.create(get_session(), current_actor(), body)
    return created(roles.role_document(role), url_for("roles_api.get_role", name=role.name))


@bp.get("/<name>")
@require("roles.manage")
def get_role(name: str) -> Response:
    return jsonify(roles.role_document(roles.get_role(get_session(), name)))


@bp.put("/<name>")
@require("roles.manage")
def update_role(name: str) -> Response:
    body = json_body(RoleChange).model_dump(mode="json", exclude_unset=True)
    return jsonify(roles.role_document(roles.update(get_session(), current_actor(), name, body)))


@bp.delete("/<name>")
@require("roles.manage")
def delete_role(name: str) -> tuple[str, int]:
    roles.delete(get_session(), current_actor(), name)
    return "", 204
