"""``/api/v1/audit`` and ``/api/v1/stats``: the operation log for auditors (DESIGN §5).

Bodies: :mod:`portal.audit.schemas`; what the pages share with this module: :mod:`portal.audit.web`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from portal.audit import query, stats
from portal.audit.export import event_document
from portal.audit.web import export_response, record_verification, since_checkpoint
from portal.db import get_session
from portal.rbac.decorators import require
from portal.web import path_number

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1")


@bp.get("/audit")
@require("audit.read")
def list_events() -> Response:
    filters = query.Filters.from_args(request.args)
    page = query.page(get_session(), filters, limit=query.parse_limit(request.args.get("limit")),
                      cursor=query.parse_cursor(request.args.get("cursor")))
    following: str | None = None
    if page.next_cursor is not None:
        args: dict[str, Any] = {**filters.as_args(), "limit": request.args.get("limit"), "cursor": page.next_cursor}
        following = url_for("audit_api.list_events", **args)
    return jsonify({"events": [event_document(row) for row in page.events], "next_cursor": page.next_cursor,
                    "next": following})


@bp.get("/audit/<number>")
@require("audit.read")
def get_event(number: str) -> Response:
    """One event by its sequence number (``seq``)."""
    return jsonify(event_document(query.get_event(get_session(), path_number(number, "number", query.MAX_SEQ))))


@bp.get("/audit/verify")
@require("audit.read")
def verify() -> Response:
    session = get_session()
    report = query.verify(session, since_checkpoint=since_checkpoint())
    record_verification(session, report)
    return jsonify(report.as_dict())


@bp.get("/audit/export")
@require("audit.export")
def export() -> Response:
    return export_response(request.args.get("format", "jsonl"), query.Filters.from_args(request.args))


@bp.get("/stats")
@require("stats.read")
def overview() -> Response:
    return jsonify(stats.overview(get_session(), stats.Window.from_args(request.args)))


@bp.get("/stats/operations")
@require("stats.read")
def operations() -> Response:
    by = request.args.get("by", "actor")
    return jsonify({"by": by, "counts": stats.operations(get_session(), stats.Window.from_args(request.args), by)})


@bp.get("/stats/logins")
@require("stats.read")
def logins() -> Response:
    return jsonify(stats.logins(get_session(), stats.Window.from_args(request.args)))


@bp.get("/stats/lookups")
@require("stats.read")
def lookups() -> Response:
    return jsonify({"systems": stats.lookups_by_system(get_session(), stats.Window.from_args(request.args))})


@bp.get("/stats/outliers")
@require("stats.read")
def outliers() -> Response:
    return jsonify({"operators": stats.outliers(get_session(), stats.Window.from_args(request.args))})
