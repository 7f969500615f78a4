"""Admin pages for operators: list, create, edit, reset password, end sessions, delete."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.accounts import admin
from portal.db import abandon, get_session
from portal.errors import RequestError
from portal.rbac import roles
from portal.rbac.decorators import require
from portal.sso.identity import current_actor

bp = Blueprint("users_admin", __name__, url_prefix="/admin/users")


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(FlaskForm):
    username = StringField("Username", validators=[Optional(), Length(max=64)])
    display_name = StringField("Name", validators=[Length(max=200)])
    email = EmailField("E-mail", validators=[Optional(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=32)])
    region = StringField("Region", validators=[Optional(), Length(max=64)])
    teams = StringField("Teams (comma-separated)", validators=[Optional(), Length(max=500)])
    roles = CheckboxList("Roles", choices=[])
    enabled = BooleanField("Enabled", default=True)
    password = PasswordField("Initial password (optional)", validators=[Optional(), Length(min=10, max=1024)])

    def data_for_service(self) -> dict:
        return {
            "display_name": self.display_name.data or "",
            "email": self.email.data or None,
            "phone": self.phone.data or None,
            "region": self.region.data or None,
            "teams": [t.strip() for t in (self.teams.data or "").split(",") if t.strip()],
            "roles": list(self.roles.data or []),
            "enabled": bool(self.enabled.data),
        }


class PasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=10, max=1024)])


class ActionForm(FlaskForm):
    pass


def _user_form(**kwargs) -> UserForm:
    form = UserForm(**kwargs)
    form.roles.choices = [(r.name, r.name) for r in roles.list_roles(get_session())]
    return form


@bp.get("")
@require("users.manage")
def index():
    return render_template("admin/users.html", users=admin.list_users(get_session()))


@bp.route("/new", methods=["GET", "POST"])
@require("users.manage")
def new():
    form = _user_form()
    if form.validate_on_submit():
        data = {**form.data_for_service(), "username": form.username.data or ""}
        if form.password.data:
            data["password"] = form.password.data
        try:
            user = admin.create(get_session(), current_actor(), data)
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            return render_template("admin/user_form.html", form=form, user=None, error=exc.detail), exc.http_status
        flash(f"Operator {user.username} created.", "info")
        return redirect(url_for("users_admin.edit", username=user.username))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/<username>", methods=["GET", "POST"])
@require("users.manage")
def edit(username: str):
    user = admin.get_user(get_session(), username)
    if request.method == "GET":
        form = _user_form(obj=user)
        form.teams.data = ", ".join(user.teams or [])
        form.roles.data = user.role_names
    else:
        form = _user_form()
    status, error = 200, None
    if form.validate_on_submit():
        try:
            admin.update(get_session(), current_actor(), username, form.data_for_service())
            flash("Saved.", "info")
            return redirect(url_for("users_admin.edit", username=username))
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            status, error = exc.http_status, exc.detail
    return render_template("admin/user_form.html", form=form, user=user, error=error,
                           password_form=PasswordForm(formdata=None), action_form=ActionForm()), status


@bp.post("/<username>/password")
@require("users.manage")
def reset_password(username: str):
    form = PasswordForm()
    if not form.validate():
        flash("The new password needs at least 10 characters.", "error")
    else:
        admin.reset_password(get_session(), current_actor(), username, form.password.data)
        flash("Password reset; the operator's sessions have ended.", "info")
    return redirect(url_for("users_admin.edit", username=username))


@bp.post("/<username>/sessions")
@require("users.manage")
def end_sessions(username: str):
    if ActionForm().validate():
        admin.end_sessions(get_session(), current_actor(), username)
        flash(f"All sessions of {username} have ended.", "info")
    return redirect(url_for("users_admin.edit", username=username))


@bp.post("/<username>/delete")
@require("users.manage")
def delete(username: str):
    if ActionForm().validate():
        try:
            admin.delete(get_session(), current_actor(), username)
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            flash(exc.detail, "error")
            return redirect(url_for("users_admin.edit", username=username))
        flash(f"Operator {username} deleted.", "info")
    return redirect(url_for("users_admin.index"))
