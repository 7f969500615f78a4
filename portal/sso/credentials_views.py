"""``/admin/credentials``: the page for form-mode and service-account credentials of the systems."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from portal.db import abandon, get_session
from portal.errors import RequestError
from portal.rbac.decorators import require
from portal.sso.credential_admin import credential_admin
from portal.sso.handoff import SERVICE_ACCOUNT
from portal.sso.identity import current_actor, current_operator

bp = Blueprint("credentials", __name__, url_prefix="/admin/credentials")


class CredentialForm(FlaskForm):
    system = SelectField("System", choices=[], validators=[DataRequired()])
    operator = StringField("For", default=SERVICE_ACCOUNT, validators=[DataRequired(), Length(max=64)],
                           description="a portal username, or * for the system's service account")
    login_username = StringField("Login name at the system", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Password at the system", validators=[DataRequired(), Length(max=1024)])


class RemoveForm(FlaskForm):
    pass


def _page(form: CredentialForm, error: str | None = None, status: int = 200):
    session, operator = get_session(), current_operator()
    admin = credential_admin()
    return render_template("admin/credentials.html", form=form, error=error, remove_form=RemoveForm(),
                           entries=admin.listing(session, operator), bindings=admin.bindings(session, operator)), status


def _form() -> CredentialForm:
    form = CredentialForm()
    systems = credential_admin().manageable(get_session(), current_operator())
    form.system.choices = [(system_id, f"{name} ({system_id})") for system_id, name in systems.items()]
    return form


@bp.get("")
@require()
def index():
    return _page(_form())


@bp.post("")
@require()
def store():
    form = _form()
    if not form.validate():
        return _page(form, "Check the fields marked below.", 422)
    try:
        entry = credential_admin().store(get_session(), current_operator(), current_actor(), form.system.data,
                                         form.operator.data.strip(), {"login_username": form.login_username.data,
                                                                      "password": form.password.data})
    except RequestError as exc:
        abandon(get_session())  # refused: nothing of it is committed
        return _page(form, exc.detail, exc.http_status)
    whose = "the service account" if entry.operator == SERVICE_ACCOUNT else entry.operator
    flash(f"Stored the credentials of {whose} at {entry.system_name}.", "info")
    return redirect(url_for("credentials.index"))


@bp.post("/<system_id>/<operator>/remove")
@require()
def remove(system_id: str, operator: str):
    if RemoveForm().validate():
        credential_admin().remove(get_session(), current_operator(), current_actor(), system_id, operator)
        flash(f"Removed the credentials of {operator} at {system_id}.", "info")
    return redirect(url_for("credentials.index"))
