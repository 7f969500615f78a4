"""Event documents and streamed exports (CSV, JSON Lines) with bounded memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from portal.audit.chain import iso_utc

COLUMNS = ("seq", "occurred_at", "actor", "roles", "action", "target", "customer", "outcome",
           "client_addr", "correlation_id", "details", "prev_hash", "hash")


def event_document(row: Any) -> dict[str, Any]:
    """One event as JSON-ready data (the form of the API, the exports and the forwarders)."""
    return {
        "seq": row.seq,
        "occurred_at": iso_utc(row.occurred_at),
        "actor": row.actor,
        "roles": list(row.roles or []),
        "action": row.action,
        "target": row.target,
        "customer": row.customer,
        "outcome": row.outcome,
        "client_addr": row.client_addr,
        "correlation_id": row.correlation_id,
        "details": row.details or {},
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def jsonl_lines(documents: Iterable[dict[str, Any]]) -> Iterator[str]:
    for document in documents:
        yield json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    text = str(value)
    # Spreadsheet formula injection: a cell must not start a formula.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        text = "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def csv_lines(documents: Iterable[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for document in documents:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(document[name]) for name in COLUMNS])
        yield buffer.getvalue()
