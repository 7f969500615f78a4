"""Admin pages for roles: a permission picker, field grants per sensitivity class, content rules."""

from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from portal.db import abandon, get_session
from portal.errors import InvalidDocument, RequestError
from portal.rbac import permissions, roles
from portal.rbac.decorators import require
from portal.sso.identity import current_actor

bp = Blueprint("roles_admin", __name__, url_prefix="/admin/roles")

SENSITIVITY_CLASSES = ("public", "internal", "pii", "financial", "*")


class RoleForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=64)])
    description = StringField("Description", validators=[Optional(), Length(max=500)])
    extra_permissions = StringField("Other permissions (comma-separated, e.g. system.boss.view)",
                                    validators=[Optional(), Length(max=2000)])
    content_rules = TextAreaField("Content rules (JSON list)", validators=[Optional(), Length(max=50_000)])


class ActionForm(FlaskForm):
    pass


def document_from_request(form: RoleForm, name: str) -> dict:
    """The role document from the picker's checkboxes, the grant selects and the rules text."""
    permissions = request.form.getlist("permission")
    permissions += [p.strip() for p in (form.extra_permissions.data or "").split(",") if p.strip()]
    grants = {cls: request.form[f"grant-{cls}"] for cls in SENSITIVITY_CLASSES if request.form.get(f"grant-{cls}")}
    try:
        rules = json.loads(form.content_rules.data or "[]")
    except json.JSONDecodeError as exc:
        raise InvalidDocument("content_rules", f"not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    return {"name": name, "description": form.description.data or "", "permissions": permissions,
            "field_grants": grants, "content_rules": rules}


def render(form: RoleForm, role, error: str | None = None, status: int = 200):
    document = roles.role_document(role) if role else {"permissions": [], "field_grants": {}}
    return render_template("admin/role_form.html", form=form, role=role, document=document, error=error,
                           known=permissions.PERMISSIONS, classes=SENSITIVITY_CLASSES,
                           action_form=ActionForm()), status


@bp.get("")
@require("roles.manage")
def index():
    return render_template("admin/roles.html", roles=roles.list_roles(get_session()))


@bp.route("/new", methods=["GET", "POST"])
@require("roles.manage")
def new():
    form = RoleForm()
    if form.validate_on_submit():
        try:
            role = roles.create(get_session(), current_actor(), document_from_request(form, form.name.data or ""))
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            return render(form, None, exc.detail, exc.http_status)
        flash(f"Role {role.name} created.", "info")
        return redirect(url_for("roles_admin.edit", name=role.name))
    return render(form, None)


@bp.route("/<name>", methods=["GET", "POST"])
@require("roles.manage")
def edit(name: str):
    role = roles.get_role(get_session(), name)
    form = RoleForm()
    if request.method == "GET":
        form.description.data = role.description
        form.content_rules.data = json.dumps(role.content_rules or [], indent=2, ensure_ascii=False)
        known = set(permissions.names())
        form.extra_permissions.data = ", ".join(p for p in role.permissions if p not in known)
    elif form.validate_on_submit():
        try:
            roles.update(get_session(), current_actor(), name, document_from_request(form, name))
            flash("Saved.", "info")
            return redirect(url_for("roles_admin.edit", name=name))
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            return render(form, role, exc.detail, exc.http_status)
    return render(form, role)


@bp.post("/<name>/delete")
@require("roles.manage")
def delete(name: str):
    if ActionForm().validate():
        try:
            roles.delete(get_session(), current_actor(), name)
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            flash(exc.detail, "error")
            return redirect(url_for("roles_admin.edit", name=name))
        flash(f"Role {name} deleted.", "info")
    return redirect(url_for("roles_admin.index"))
