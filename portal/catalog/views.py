"""Admin pages for adapters: list, register, edit as TOML, versions and how they go live, shadow
comparisons, delete, and the test console."""

from __future__ import annotations

import tomllib

import tomli_w
from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.catalog.console import TestConsole
from portal.catalog.lifecycle import Lifecycle
from portal.catalog.service import AdapterInfo, CatalogService
from portal.catalog.shadow import shadow_report
from portal.db import abandon, get_session
from portal.errors import InvalidDocument, RequestError
from portal.rbac.decorators import require
from portal.sso.identity import current_actor, current_operator

bp = Blueprint("catalog", __name__, url_prefix="/admin/adapters")

NEW_ADAPTER_TEMPLATE = '''id = "my-system"
name = "My system"
kind = "html"
timeout_s = 2.0
url = "http://127.0.0.1:8207/member"
params = { msisdn = "{customer}" }
not_found = "//div[@id='not-found']"

[fields.tier]
path = "css:#tier"
label = "Tier"
'''


class DocumentForm(FlaskForm):
    document = TextAreaField("Adapter (TOML)", validators=[DataRequired(), Length(max=200_000)])


class TestForm(FlaskForm):
    number = StringField("Customer number", validators=[DataRequired(), Length(max=40)])
    version = IntegerField("Version", validators=[Optional(), NumberRange(min=1)])


class DeleteForm(FlaskForm):
    pass


class StepForm(FlaskForm):
    """One lifecycle button (approve, promote, rollback, retire, shadow, unshadow): the CSRF token is all it carries."""


def catalog() -> CatalogService:
    return current_app.extensions["portal.catalog_service"]


def lifecycle() -> Lifecycle:
    return current_app.extensions["portal.catalog_lifecycle"]


def console() -> TestConsole:
    return current_app.extensions["portal.catalog_console"]


STEP_MESSAGES = {
    "approve": "Version {version} approved.",
    "promote": "Version {version} is live: agents use it from now on.",
    "rollback": "Rolled back: version {version} is live again.",
    "retire": "Version {version} retired.",
    "shadow": "Version {version} now runs in shadow beside the live version.",
    "unshadow": "Shadow run stopped.",
}


def parse_toml(text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDocument(None, f"not valid TOML: {exc}") from exc


@bp.get("")
@require()
def index():
    adapters = catalog().list(get_session(), current_operator())
    return render_template("admin/adapters.html", adapters=adapters)


@bp.route("/new", methods=["GET", "POST"])
@require()
def new():
    catalog().list(get_session(), current_operator())  # the same permission check as the list
    form = DocumentForm()
    if not form.is_submitted():
        form.document.data = NEW_ADAPTER_TEMPLATE
    elif form.validate():
        try:
            info = catalog().create(get_session(), current_operator(), current_actor(), parse_toml(form.document.data))
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            return render_template("admin/adapter_new.html", form=form, error=exc.detail), exc.http_status
        flash(f"Adapter {info.id} registered as draft version {info.version}. Test it below, then ask for "
              "approval: agents see it once it is approved and promoted.", "info")
        return redirect(url_for("catalog.show", adapter_id=info.id))
    return render_template("admin/adapter_new.html", form=form)


@bp.route("/<adapter_id>", methods=["GET", "POST"])
@require()
def show(adapter_id: str):
    info = catalog().get(get_session(), current_operator(), adapter_id)
    form = DocumentForm()
    status, error = 200, None
    if form.is_submitted() and form.validate():
        try:
            info = catalog().update(get_session(), current_operator(), current_actor(), adapter_id,
                                    parse_toml(form.document.data))
            flash(f"Saved as draft version {info.version}; the live version is unchanged until it is "
                  "approved and promoted.", "info")
            return redirect(url_for("catalog.show", adapter_id=adapter_id))
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            status, error = exc.http_status, exc.detail
    elif not form.is_submitted():
        form.document.data = tomli_w.dumps(info.document)
    return _page(info, form, error=error, test_form=TestForm()), status


@bp.post("/<adapter_id>/test")
@require()
def test(adapter_id: str):
    info = catalog().get(get_session(), current_operator(), adapter_id)
    test_form = TestForm()
    report, error, status = None, None, 200
    if test_form.validate():
        timeout = current_app.extensions["portal.settings"].lookup_deadline_s
        try:
            report = console().test(get_session(), current_operator(), current_actor(), adapter_id,
                                    test_form.number.data, timeout, version=test_form.version.data)
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            error, status = exc.detail, exc.http_status
    form = DocumentForm(formdata=None, document=tomli_w.dumps(info.document))
    return _page(info, form, error=error, test_form=test_form, report=report), status


@bp.post("/<adapter_id>/versions/<int:version>/<any(approve, promote, retire, shadow):step>")
@bp.post("/<adapter_id>/<any(rollback, unshadow):step>")
@require()
def lifecycle_step(adapter_id: str, step: str, version: int | None = None):
    """One lifecycle button; the service decides who may press it."""
    if not StepForm().validate():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("catalog.show", adapter_id=adapter_id))
    session, operator, actor = get_session(), current_operator(), current_actor()
    try:
        if step == "rollback":
            done = lifecycle().rollback(session, operator, actor, adapter_id)
        elif step == "unshadow":
            done = lifecycle().shadow(session, operator, actor, adapter_id, None)
        elif step == "shadow":
            done = lifecycle().shadow(session, operator, actor, adapter_id, version)
        else:
            done = getattr(lifecycle(), step)(session, operator, actor, adapter_id, version)
    except RequestError as exc:
        abandon(get_session())  # refused: nothing of it is committed
        info = catalog().get(session, operator, adapter_id)
        form = DocumentForm(formdata=None, document=tomli_w.dumps(info.document))
        return _page(info, form, error=exc.detail, test_form=TestForm()), exc.http_status
    flash(STEP_MESSAGES[step].format(version=done.version), "info")
    return redirect(url_for("catalog.show", adapter_id=adapter_id))


def _page(info: AdapterInfo, form: DocumentForm, *, error: str | None, test_form: TestForm, report=None) -> str:
    session = get_session()
    shadow = shadow_report(session, info.id, info.shadow_version) if info.shadow_version else None
    return render_template("admin/adapter.html", info=info, form=form, error=error, test_form=test_form,
                           delete_form=DeleteForm(), step_form=StepForm(), report=report, shadow=shadow,
                           four_eyes=lifecycle().four_eyes)


@bp.post("/<adapter_id>/delete")
@require()
def delete(adapter_id: str):
    if DeleteForm().validate():
        catalog().delete(get_session(), current_operator(), current_actor(), adapter_id)
        flash(f"Adapter {adapter_id} deleted; its history is kept.", "info")
    return redirect(url_for("catalog.index"))
