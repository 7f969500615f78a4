"""Auditor pages: the log with filters and pages, one event, chain verification, exports, statistics."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from portal import charts
from portal.audit import query, stats
from portal.audit.export import event_document
from portal.audit.web import export_response, record_verification, since_checkpoint
from portal.db import abandon, get_session
from portal.errors import RequestError
from portal.rbac.decorators import require

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@require("audit.read")
def index():
    error = None
    try:
        filters = query.Filters.from_args(request.args)
        limit = query.parse_limit(request.args.get("limit"))
        cursor = query.parse_cursor(request.args.get("cursor"))
    except RequestError as exc:
        abandon(get_session())  # refused: nothing of it is committed
        filters, limit, cursor, error = query.Filters(), query.DEFAULT_LIMIT, None, exc.detail
    page = query.page(get_session(), filters, limit=limit, cursor=cursor)
    return render_template("audit/events.html", page=page, events=[event_document(e) for e in page.events],
                           filters=filters, args=filters.as_args(), raw=request.args, error=error,
                           first=cursor is None), 400 if error else 200


@bp.get("/audit/<int:seq>")
@require("audit.read")
def detail(seq: int):
    return render_template("audit/event.html", event=event_document(query.get_event(get_session(), seq)))


@bp.get("/audit/verify")
@require("audit.read")
def verify():
    session = get_session()
    report = query.verify(session, since_checkpoint=since_checkpoint())
    record_verification(session, report)
    return render_template("audit/verify.html", report=report)


@bp.get("/audit/export")
@require("audit.export")
def export():
    return export_response(request.args.get("format", "csv"), query.Filters.from_args(request.args))


@bp.get("/stats")
@require("stats.read")
def statistics():
    error = None
    try:
        window = stats.Window.from_args(request.args)
    except RequestError as exc:
        abandon(get_session())  # refused: nothing of it is committed
        window, error = stats.Window.from_args({}), exc.detail
    data = stats.overview(get_session(), window)
    figures = {
        "day": charts.bars(data["by_day"], title="Operations per day"),
        "hour": charts.bars(data["by_hour"], title="Operations per hour (UTC)"),
        "actor": charts.hbars(data["by_actor"], title="Operations per operator"),
        "action": charts.hbars(data["by_action"], title="Operations per action"),
        "system": charts.hbars(data["by_system"], title="Operations per system"),
        "failed": charts.bars(data["logins"]["failed_by_day"], title="Failed sign-ins per day", tone="bad"),
        "latency": charts.hbars([{"key": s["system"], "count": s["mean_ms"] or 0} for s in data["lookups"]],
                                title="Mean lookup latency per system (ms)"),
    }
    return render_template("audit/stats.html", data=data, figures=figures, window=window, error=error), \
        400 if error else 200
