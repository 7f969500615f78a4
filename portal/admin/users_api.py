"""``/api/v1/users``: operators (DESIGN §5). Bodies: :mod:`portal.admin.schemas`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from portal.accounts import admin
from portal.admin.schemas import UserChange, UserCreate
from portal.db import get_session
from portal.rbac.decorators import require
from portal.sso.identity import current_actor
from portal.web import created, json_body

bp = Blueprint("users_api", __name__, url_prefix="/api/v1/users")


@bp.get("")
@require("users.manage")
def list_users() -> Response:
    return jsonify({"users": [admin.user_document(u) for u in admin.list_users(get_session())]})


@bp.post("")
@require("users.manage")
def create_user() -> Response:
    body = json_body(UserCreate)
    user = admin.create(get_session(), current_actor(), body.model_dump(exclude_unset=True))
    return created(admin.user_document(user), url_for("users_api.get_user", username=user.username))


@bp.get("/<username>")
@require("users.manage")
def get_user(username: str) -> Response:
    return jsonify(admin.user_document(admin.get_user(get_session(), username)))


@bp.patch("/<username>")
@require("users.manage")
def update_user(username: str) -> Response:
    changes = json_body(UserChange).model_dump(exclude_unset=True)
    password = changes.pop("password", None)
    session = get_session()
    user = admin.update(session, current_actor(), username, changes) if changes else admin.get_user(session, username)
    if password is not None:
        admin.reset_password(session, current_actor(), username, password)
    return jsonify(admin.user_document(user))


@bp.delete("/<username>")
@require("users.manage")
def delete_user(username: str) -> tuple[str, int]:
    admin.delete(get_session(), current_actor(), username)
    return "", 204


@bp.delete("/<username>/sessions")
@require("users.manage")
def end_sessions(username: str) -> tuple[str, int]:
    admin.end_sessions(get_session(), current_actor(), username)
    return "", 204
