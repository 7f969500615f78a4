"""``POST /api/v1/users/import``: bulk import of operators from a legacy CSV (multipart upload).

Bodies: :mod:`portal.accounts.schemas`. Bearer-token callers need no CSRF token; session callers do
(the global check in :mod:`portal.web`).
"""

from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from portal.accounts.importer import run_import
from portal.accounts.uploads import allow_large_uploads, import_request
from portal.db import get_session
from portal.errors import PROBLEM_JSON, InvalidDocument, problem
from portal.rbac.decorators import require
from portal.sso.identity import current_actor

bp = Blueprint("accounts_import_api", __name__)
allow_large_uploads(bp)

TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


@bp.post("/api/v1/users/import")
@require("users.manage")
def api_import() -> ResponseReturnValue:
    apply = request.form.get("apply", "false").strip().lower()
    if apply not in TRUE + FALSE:
        raise InvalidDocument("apply", "true or false")
    report = run_import(get_session(), current_actor(), import_request(
        request.files.get("file"), request.files.get("mapping"), request.form.get("encoding"), apply in TRUE))
    body = report.to_dict()
    if apply in TRUE and not report.applied:
        # A refused apply is a problem document that still carries the whole report.
        refused = problem(422, "Import refused", f"nothing applied: {report.summary.error} line(s) have errors",
                          "import_refused", instance=request.path)
        return {**refused, **body}, 422, {"Content-Type": PROBLEM_JSON}
    return body, 200
