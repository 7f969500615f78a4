"""``/api/v1/audit`` and ``/api/v1/stats``: the operation log for auditors (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, jsonify, request, stream_with_context, url_for

from portal.audit import query, stats
from portal.audit.export import csv_lines, event_document, jsonl_lines
from portal.audit.record import Event, record
from portal.db import get_database, get_session
from portal.errors import RequestError
from portal.rbac.decorators import require
from portal.sso.identity import current_actor
from portal.web import path_number

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1")

FORMATS = {"csv": ("text/csv; charset=utf-8", csv_lines), "jsonl": ("application/x-ndjson; charset=utf-8", jsonl_lines)}


@bp.get("/audit")
@require("audit.read")
def list_events():
    filters = query.Filters.from_args(request.args)
    page = query.page(get_session(), filters, limit=query.parse_limit(request.args.get("limit")),
                      cursor=query.parse_cursor(request.args.get("cursor")))
    body = {"events": [event_document(row) for row in page.events], "next_cursor": page.next_cursor, "next": None}
    if page.next_cursor is not None:
        body["next"] = url_for("audit_api.list_events", **filters.as_args(), limit=request.args.get("limit"),
                               cursor=page.next_cursor)
    return jsonify(body)


@bp.get("/audit/<number>")
@require("audit.read")
def get_event(number: str):
    """One event by its sequence number (``seq``)."""
    return jsonify(event_document(query.get_event(get_session(), path_number(number, "number"))))


@bp.get("/audit/verify")
@require("audit.read")
def verify():
    session = get_session()
    report = query.verify(session, since_checkpoint=since_checkpoint())
    record_verification(session, report)
    return jsonify(report.as_dict())


def since_checkpoint() -> bool:
    """``?from=checkpoint``: continue from the last successful verification; anything else: the whole chain."""
    start = request.args.get("from", "anchor")
    if start not in ("anchor", "checkpoint"):
        raise RequestError("from must be 'anchor' (the whole chain, the default) or 'checkpoint'")
    return start == "checkpoint"


def record_verification(session, report) -> None:
    record(session, current_actor(), Event(action="audit.verify", outcome="success" if report.ok else "failure",
                                           details=query.verification_details(report)))
    session.commit()


@bp.get("/audit/export")
@require("audit.export")
def export():
    return export_response(request.args.get("format", "jsonl"), query.Filters.from_args(request.args))


def export_response(fmt: str, filters: query.Filters) -> Response:
    """Record the export, then stream it from a session of its own, batch by batch."""
    if fmt not in FORMATS:
        raise RequestError(f"format: one of {', '.join(FORMATS)}")
    mimetype, render = FORMATS[fmt]
    session = get_session()
    record(session, current_actor(), Event(action="audit.export", details={"format": fmt, "filters": filters.as_args()}))
    session.commit()
    database = get_database()

    def generate():
        reader = database.session()
        try:
            yield from render(event_document(row) for row in query.stream(reader, filters))
        finally:
            reader.close()

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    response = Response(stream_with_context(generate()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/stats")
@require("stats.read")
def overview():
    return jsonify(stats.overview(get_session(), stats.Window.from_args(request.args)))


@bp.get("/stats/operations")
@require("stats.read")
def operations():
    by = request.args.get("by", "actor")
    return jsonify({"by": by, "counts": stats.operations(get_session(), stats.Window.from_args(request.args), by)})


@bp.get("/stats/logins")
@require("stats.read")
def logins():
    return jsonify(stats.logins(get_session(), stats.Window.from_args(request.args)))


@bp.get("/stats/lookups")
@require("stats.read")
def lookups():
    return jsonify({"systems": stats.lookups_by_system(get_session(), stats.Window.from_args(request.args))})


@bp.get("/stats/outliers")
@require("stats.read")
def outliers():
    return jsonify({"operators": stats.outliers(get_session(), stats.Window.from_args(request.args))})
