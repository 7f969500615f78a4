"""Bulk import of operators over the web: the upload page and ``POST /api/v1/users/import``.

Both are thin: they turn the upload into an :class:`ImportRequest` and show the engine's report
(portal.accounts.importer). Both need ``users.manage``; session callers need the CSRF token (the
global check in portal.web), bearer-token callers do not.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, SelectChoice, SelectField

from portal.accounts.importer import ImportReport, ImportRequest, normalize_encoding, run_import
from portal.db import get_session
from portal.errors import PROBLEM_JSON, InvalidDocument, RequestError, problem
from portal.rbac.decorators import require
from portal.sso.identity import current_actor

bp = Blueprint("accounts_import", __name__)

# The app-wide request limit (1 MiB) is too small for a 10,000-operator export (~1 MB, more in GBK
# with Chinese names); these two endpoints alone accept up to this much.
IMPORT_MAX_BYTES = 16 * 1024 * 1024
# The page lists every error but caps the rest; the CLI and the API give the full report.
PAGE_LINE_LIMIT = 500
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


@bp.url_value_preprocessor
def _allow_large_uploads(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # URL value preprocessors run before every before_request hook, so the larger limit is in place
    # before the global CSRF check reads the multipart body.
    request.max_content_length = IMPORT_MAX_BYTES


class ImportForm(FlaskForm):
    file = FileField("Operators (CSV)", validators=[FileRequired("Choose the CSV file to import.")])
    mapping = FileField("Legacy role mapping (CSV or TOML, optional)")
    encoding = SelectField("Encoding", choices=[SelectChoice("auto", "Detect (UTF-8 or GBK)"),
                                                SelectChoice("utf-8", "UTF-8"), SelectChoice("gbk", "GBK")],
                           default="auto")
    apply = BooleanField("Apply the changes (otherwise a dry run that changes nothing)")


def _import_request(upload: FileStorage | None, mapping: FileStorage | None, encoding: str | None,
                    apply: bool) -> ImportRequest:
    if upload is None or not upload.filename:
        raise InvalidDocument("file", "upload the operators as a CSV file in the 'file' field")
    has_mapping = mapping is not None and bool(mapping.filename)
    return ImportRequest(data=upload.read(), filename=upload.filename, encoding=normalize_encoding(encoding),
                         mapping=mapping.read() if has_mapping else None,
                         mapping_filename=mapping.filename or "" if has_mapping else "", apply=apply)


@bp.route("/admin/users/import", methods=["GET", "POST"])
@require("users.manage")
def upload_page():
    form = ImportForm()
    report: ImportReport | None = None
    error, status = None, 200
    if form.validate_on_submit():
        try:
            report = run_import(get_session(), current_actor(), _import_request(
                form.file.data, form.mapping.data, form.encoding.data, form.apply.data))
        except RequestError as exc:
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


@bp.post("/api/v1/users/import")
@require("users.manage")
def api_import():
    apply = request.form.get("apply", "false").strip().lower()
    if apply not in TRUE + FALSE:
        raise InvalidDocument("apply", "true or false")
    report = run_import(get_session(), current_actor(), _import_request(
        request.files.get("file"), request.files.get("mapping"), request.form.get("encoding"), apply in TRUE))
    body = report.to_dict()
    if apply in TRUE and not report.applied:
        # A refused apply is a problem document that still carries the whole report.
        refused = problem(422, "Import refused", f"nothing applied: {report.summary.error} line(s) have errors",
                          "import_refused", instance=request.path)
        return {**refused, **body}, 422, {"Content-Type": PROBLEM_JSON}
    return body, 200
