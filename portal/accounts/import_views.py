"""Bulk import of operators over the web: the upload page ``/admin/users/import``.

Thin: it turns the upload into an :class:`ImportRequest` (:mod:`portal.accounts.uploads`, shared with
``POST /api/v1/users/import`` in :mod:`portal.accounts.import_api`) and shows the engine's report
(portal.accounts.importer). It needs ``users.manage`` and the CSRF token (the global check in portal.web).
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectChoice, SelectField

from portal.accounts.importer import ImportReport, run_import
from portal.accounts.uploads import allow_large_uploads, import_request
from portal.db import abandon, get_session
from portal.errors import RequestError
from portal.rbac.decorators import require
from portal.sso.identity import current_actor

bp = Blueprint("accounts_import", __name__)
allow_large_uploads(bp)

# The page lists every error but caps the rest; the CLI and the API give the full report.
PAGE_LINE_LIMIT = 500


class ImportForm(FlaskForm):
    file = FileField("Operators (CSV)", validators=[FileRequired("Choose the CSV file to import.")])
    mapping = FileField("Legacy role mapping (CSV or TOML, optional)")
    encoding = SelectField("Encoding", choices=[SelectChoice("auto", "Detect (UTF-8 or GBK)"),
                                                SelectChoice("utf-8", "UTF-8"), SelectChoice("gbk", "GBK")],
                           default="auto")
    apply = BooleanField("Apply the changes (otherwise a dry run that changes nothing)")


@bp.route("/admin/users/import", methods=["GET", "POST"])
@require("users.manage")
def upload_page():
    form = ImportForm()
    report: ImportReport | None = None
    error, status = None, 200
    if form.validate_on_submit():
        try:
            report = run_import(get_session(), current_actor(), import_request(
                form.file.data, form.mapping.data, form.encoding.data, form.apply.data))
        except RequestError as exc:
            abandon(get_session())  # refused: nothing of it is committed
            error, status = exc.detail, exc.http_status
        else:
            status = 422 if form.apply.data and not report.applied else 200
    elif form.is_submitted():
        status = 422
    lines, hidden = None, 0
    if report is not None:
        # Errors first (they decide whether anything can be applied), then the changes.
        changed = [line for line in report.lines if line.action in ("create", "update")]
        lines, hidden = report.errors + changed[:PAGE_LINE_LIMIT], max(0, len(changed) - PAGE_LINE_LIMIT)
    return render_template("admin/users_import.html", form=form, report=report, lines=lines, hidden=hidden,
                           error=error), status
