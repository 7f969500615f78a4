"""Copying committed events to a SIEM as JSON lines: ``audit_forward = "syslog"`` (local syslog),
``"syslog:HOST:PORT"`` (UDP), or ``"file:/path/to/events.jsonl"``. Forwarding happens after the
commit and never blocks or fails the operation; the database stays the record of truth.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from portal.audit import record as recorder
from portal.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

log = logging.getLogger(__name__)


class FileForwarder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, document: dict[str, Any]) -> None:
        line = json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self.lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)


class SyslogForwarder:
    def __init__(self, address: str | tuple[str, int]) -> None:
        self.handler = logging.handlers.SysLogHandler(address=address,
                                                      facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV)
        self.handler.ident = "portal-audit: "

    def __call__(self, document: dict[str, Any]) -> None:
        record = logging.LogRecord("portal.audit", logging.INFO, __file__, 0,
                                   json.dumps(document, ensure_ascii=False, separators=(",", ":")), None, None)
        self.handler.emit(record)


def make_forwarder(spec: str) -> Callable[[dict[str, Any]], None] | None:
    spec = (spec or "").strip()
    if not spec:
        return None
    if spec == "syslog":
        return SyslogForwarder("/dev/log" if Path("/dev/log").exists() else ("127.0.0.1", 514))
    if spec.startswith("syslog:"):
        host, _, port = spec[len("syslog:"):].rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError("settings", "audit_forward", "syslog forwarding is 'syslog' or 'syslog:HOST:PORT'")
        return SyslogForwarder((host, int(port)))
    if spec.startswith("file:") and len(spec) > len("file:"):
        return FileForwarder(Path(spec[len("file:"):]))
    raise ConfigError("settings", "audit_forward", "one of '', 'syslog', 'syslog:HOST:PORT' or 'file:/path'")


@sa_event.listens_for(Session, "after_commit")
def _send(session: Session) -> None:
    pending = session.info.pop("audit_forward", None)
    for document in pending or ():
        for forwarder in [*recorder._listeners, *recorder._observers.values()]:
            try:
                forwarder(document)
            except Exception:  # noqa: BLE001 - a SIEM outage must not stop the desk
                log.exception("audit forwarding to %r failed", forwarder)


@sa_event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop("audit_forward", None)


def init_app(app: Flask) -> None:
    settings = app.extensions["portal.settings"]
    forwarder = make_forwarder(getattr(settings, "audit_forward", ""))
    app.extensions["portal.audit.forwarder"] = forwarder
    recorder._listeners.clear()  # one app per process; tests build many (observers stay: record.observe)
    if forwarder is not None:
        recorder._listeners.append(forwarder)
