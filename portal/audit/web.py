"""What the auditor pages and ``/api/v1/audit`` share: ``?from=``, recording a verification, streaming an export.

Neutral ground, so that neither the pages (:mod:`portal.audit.views`) nor the API
(:mod:`portal.audit.api`) imports the other. The request's unit of work commits what these record.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, request, stream_with_context
from sqlalchemy.orm import Session

from portal import clock
from portal.audit import query
from portal.audit.chain import Report
from portal.audit.export import csv_lines, event_document, jsonl_lines
from portal.audit.record import Event, record
from portal.db import get_database, get_session
from portal.errors import RequestError
from portal.sso.identity import current_actor

FORMATS = {"csv": ("text/csv; charset=utf-8", csv_lines), "jsonl": ("application/x-ndjson; charset=utf-8", jsonl_lines)}


def since_checkpoint() -> bool:
    """``?from=checkpoint``: continue from the last successful verification; anything else: the whole chain."""
    start = request.args.get("from", "anchor")
    if start not in ("anchor", "checkpoint"):
        raise RequestError("from must be 'anchor' (the whole chain, the default) or 'checkpoint'")
    return start == "checkpoint"


def record_verification(session: Session, report: Report) -> None:
    record(session, current_actor(), Event(action="audit.verify", outcome="success" if report.ok else "failure",
                                           details=query.verification_details(report)))


def export_response(fmt: str, filters: query.Filters) -> Response:
    """Record the export, then stream it from a session of its own, batch by batch.

    The export's own audit event is committed with the request's unit of work, which ends before
    the first byte is streamed.
    """
    if fmt not in FORMATS:
        raise RequestError(f"format: one of {', '.join(FORMATS)}")
    mimetype, render = FORMATS[fmt]
    record(get_session(), current_actor(), Event(action="audit.export",
                                                 details={"format": fmt, "filters": filters.as_args()}))
    database = get_database()

    def generate() -> Iterator[str]:
        reader = database.session()
        try:
            yield from render(event_document(row) for row in query.stream(reader, filters))
        finally:
            reader.close()

    stamp = clock.utcnow().strftime("%Y%m%dT%H%M%SZ")
    response = Response(stream_with_context(generate()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
