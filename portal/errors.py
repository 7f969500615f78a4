"""The portal's one exception hierarchy.

Every class the portal raises on purpose, where it lives, and what it becomes
(the HTTP status of the problem document; for back-office errors, the panel's
status). Classes defined in this module have no module named::

    PortalError                          anything the portal raises on purpose; 500
    +-- ConfigError                      a setting or adapter file is wrong (file, key, reason); 500
    |   +-- ChainError                   adapters.chain: a key chain that can never work (cycle, unknown upstream)
    +-- RequestError                     the caller's fault; 400
    |   +-- InvalidCustomerNumber        400
    |   +-- InvalidFilter                audit.query: a bad audit filter (time, limit, text); 400
    |   +-- AuthenticationRequired       401
    |   |   +-- SignInRefused            sso.provisioning: an identity-provider sign-in refused (audited); 401
    |   +-- PermissionDenied             403
    |   +-- HandoffRefused               sso.handoff: a hand-off token that signs nobody in (reason); 403
    |   +-- ResourceNotFound             404
    |   +-- Conflict                     409
    |   +-- InvalidDocument              422 (a submitted document is invalid: key and reason)
    +-- BackendError                     one back-office system failed; becomes a SystemResult status; 502
    |   +-- BackendNotFound              the system does not know the customer    -> not_found
    |   +-- BackendTimeout               no answer in time (safe to retry)        -> timeout
    |   +-- BackendUnavailable           cannot connect / refused (safe to retry) -> unavailable
    |   |   +-- BulkheadFull             adapters.bulkhead: every slot of the adapter taken until the deadline
    |   |   +-- CircuitOpen              adapters.resilience: the breaker refuses the call (retry later)
    |   +-- BackendProtocolError         answered, but not something we can use   -> error
    |   |   +-- EgressRefused            adapters.egress: a connection the egress policy does not allow
    |   |   +-- UnsafeXml                adapters.xmlsafe: too large, a DTD or an entity declaration
    |   +-- KeyUnavailable               adapters.chain: an upstream value the key needs is missing -> error
    +-- AuditWriteError                  audit.record: the event could not be written, so nothing changes; 503
    +-- VaultError                       sso.vault: a stored secret does not match the vault key; 500
    +-- NoCredentials                    sso.handoff: no credentials to sign the operator in to a system; 409
    +-- DeliveryError                    monitor.channels: an alert was not delivered (a later tick retries); 502
    +-- TickConflict                     monitor.checker: another monitor recorded the tick meanwhile; 500

Every class carries a machine-readable ``code``. ``BackendError`` subclasses say
whether the failure is safe to retry for an idempotent read. Third-party
exceptions are translated at the edge with ``raise ... from exc``.

This module imports nothing from Flask at import time so that adapters may use
it; :func:`init_app` maps the hierarchy to ``application/problem+json`` for the
API and to friendly pages for browsers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

log = logging.getLogger(__name__)


class PortalError(Exception):
    """Base class; ``detail`` is safe to show to people."""

    code = "internal_error"
    title = "Internal error"
    http_status = 500

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)

    def extras(self) -> dict[str, Any]:
        """Machine-readable members added to the problem document."""
        return {}


class ConfigError(PortalError):
    """A configuration source is invalid; names the file (or id), the key and why."""

    code = "config_invalid"
    title = "Invalid configuration"

    def __init__(self, source: str, key: str | None, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


class RequestError(PortalError):
    code = "bad_request"
    title = "Bad request"
    http_status = 400


class InvalidCustomerNumber(RequestError):
    code = "invalid_customer_number"
    title = "Invalid customer number"


class AuthenticationRequired(RequestError):
    code = "authentication_required"
    title = "Authentication required"
    http_status = 401


class PermissionDenied(RequestError):
    code = "permission_denied"
    title = "Permission denied"
    http_status = 403


class ResourceNotFound(RequestError):
    code = "not_found"
    title = "Not found"
    http_status = 404


class Conflict(RequestError):
    code = "conflict"
    title = "Conflict"
    http_status = 409


class InvalidDocument(RequestError):
    """A submitted document (e.g. an adapter) failed validation; names the key and the reason."""

    code = "invalid_document"
    title = "Invalid document"
    http_status = 422

    def __init__(self, key: str | None, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}" if key else reason)

    @classmethod
    def from_config_error(cls, error: ConfigError) -> InvalidDocument:
        return cls(error.key, error.reason)

    def extras(self) -> dict[str, Any]:
        return {"key": self.key, "reason": self.reason}


class BackendError(PortalError):
    """A back-office system failed for one lookup; never fails the page."""

    code = "backend_error"
    title = "Back-office error"
    http_status = 502
    result_status = "error"
    retry_safe = False


class BackendNotFound(BackendError):
    code = "backend_not_found"
    title = "Customer not known to this system"
    result_status = "not_found"


class BackendTimeout(BackendError):
    code = "backend_timeout"
    title = "The system did not answer in time"
    result_status = "timeout"
    retry_safe = True


class BackendUnavailable(BackendError):
    code = "backend_unavailable"
    title = "The system cannot be reached"
    result_status = "unavailable"
    retry_safe = True


class BackendProtocolError(BackendError):
    code = "backend_protocol_error"
    title = "The system gave an answer the portal cannot use"
    result_status = "error"


PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": f"https://portal.invalid/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def init_app(app: Flask) -> None:
    """Map the hierarchy (and stray HTTP errors) once, for API and browser alike."""
    from flask import render_template, request
    from werkzeug.exceptions import HTTPException

    def wants_json() -> bool:
        if request.path.startswith("/api/"):
            return True
        best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
        return best in ("application/json", PROBLEM_JSON)

    def respond(status: int, title: str, detail: str, code: str, headers: dict[str, str] | None = None,
                extras: dict[str, Any] | None = None):
        if wants_json():
            body = problem(status, title, detail, code, instance=request.path, **(extras or {}))
            return body, status, {"Content-Type": PROBLEM_JSON, **(headers or {})}
        page = render_template("error.html", status=status, title=title, detail=detail)
        return page, status, headers or {}

    @app.errorhandler(PortalError)
    def handle_portal_error(exc: PortalError):
        if exc.http_status >= 500:
            log.error("request failed: %s", exc, exc_info=exc)
        headers = {"WWW-Authenticate": 'Bearer realm="portal"'} if exc.http_status == 401 else None
        return respond(exc.http_status, exc.title, exc.detail, exc.code, headers, exc.extras())

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        return respond(status, exc.name, exc.description or exc.name, code)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        # Never a stack trace to users; the log keeps it.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return respond(500, "Internal error", "Something went wrong on our side. It has been logged.", "internal_error")
