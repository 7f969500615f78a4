"""``/admin/explain``: one operator, one customer, every decision with its rule."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from portal.accounts import admin
from portal.accounts.service import Operator
from portal.db import get_session
from portal.errors import RequestError
from portal.lookup.explain import explain as explain_lookup
from portal.rbac.decorators import require
from portal.sso.identity import current_actor

bp = Blueprint("explain", __name__, url_prefix="/admin/explain")


@bp.get("")
@require("users.manage")
def explain():
    username = request.args.get("username", "").strip()
    number = request.args.get("number", "").strip()
    report, error, status = None, None, 200
    if username and number:
        try:
            target = Operator.of(admin.get_user(get_session(), username))
            report = explain_lookup(current_app.extensions["portal.lookup"], target, number, get_session(),
                                    current_actor())
        except RequestError as exc:
            error, status = exc.detail, exc.http_status
    return render_template("admin/explain.html", username=username, number=number, report=report,
                           error=error), status
