"""The back office's fault-control endpoint: inject and clear faults over HTTP, on loopback.

For testers running ``portal backoffice`` (or ``portal demo``) in another process
(the endpoint is on 127.0.0.1:8200 when the back office has its fixed ports;
``portal demo`` prints where it is)::

    GET    /faults[?system=boss]   -> 200 {"faults": [...], "kinds": [...], "systems": [...]}
    POST   /faults                 {"system": "boss", "fault": "latency", "times": 2,
                                    "number": "13800000000", "params": {"seconds": 3}}
                                   -> 201 {"injected": {...}}     400 {"error": "..."} when refused
    DELETE /faults[?system=boss]   -> 200 {"cleared": 3}

Only ``system`` and ``fault`` are required; ``times`` null (the default) means
until cleared. The answers are JSON.

It listens on 127.0.0.1 only, whatever address the systems use, and answers
only loopback clients. Anything that changes state must be sent as
``Content-Type: application/json`` and with a loopback ``Host``: a web page in
the tester's browser can neither post a plain form here (no CSRF) nor reach it
through a DNS name that resolves to 127.0.0.1 (no DNS rebinding).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from portal.demo.faults import FAULTS
from portal.demo.web import App

if TYPE_CHECKING:  # backoffice imports this module
    from portal.demo.backoffice import BackOffice

CONTROL_HOST = "127.0.0.1"
CONTROL_PORT = 8200  # on the fixed ports; a back office on free ports gets a free one
LOOPBACK_CLIENTS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
BODY_KEYS = frozenset({"system", "fault", "times", "number", "params"})


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, indent=1) + "\n", status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _refusal(request: Request, url: str) -> Response | None:
    """Why this request may not touch the back office (whose endpoint is ``url``), or None when it may."""
    if request.remote_addr not in LOOPBACK_CLIENTS:
        return _error("the fault-control endpoint answers loopback clients only", 403)
    host = (request.host or "").lower()
    name = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
    if name not in LOOPBACK_NAMES:
        return _error(f"Host {request.host!r} refused: use {url}", 403)
    # A cross-site form can POST text/plain without asking; application/json needs a preflight we never allow.
    if request.method == "POST" and request.mimetype != "application/json":
        return _error("send JSON (Content-Type: application/json)", 415)
    return None


def control_app(office: BackOffice) -> App:
    """The WSGI app of the endpoint, acting on ``office``."""
    app = App("Back-office fault control")

    @app.route("/faults", methods=("GET", "POST", "DELETE"))
    def faults(request: Request) -> Response:
        refused = _refusal(request, office.control_url or "")
        if refused is not None:
            return refused
        system = request.args.get("system") or None
        if system is not None and system not in office.systems:
            return _error(f"no system {system!r} (one of {', '.join(office.systems)})", 404)
        if request.method == "GET":
            return _json({"faults": office.active_faults(system), "kinds": list(FAULTS),
                          "systems": list(office.systems)})
        if request.method == "DELETE":
            cleared = len(office.active_faults(system))
            office.clear_faults(system)
            return _json({"cleared": cleared})
        return _inject(office, request)

    return app


def _inject(office: BackOffice, request: Request) -> Response:
    try:
        body = json.loads(request.get_data() or b"null")
    except ValueError as exc:
        return _error(f"the body is not JSON: {exc}")
    if not isinstance(body, dict):
        return _error('expected a JSON object: {"system": ..., "fault": ..., "times": ..., "number": ..., '
                      '"params": {...}}')
    extra = sorted(set(body) - BODY_KEYS)
    if extra:
        return _error(f"unknown key(s) {', '.join(extra)} (keys: {', '.join(sorted(BODY_KEYS))})")
    system, fault, params = body.get("system"), body.get("fault"), body.get("params") or {}
    if not isinstance(system, str) or system not in office.systems:
        return _error(f"system must be one of {', '.join(office.systems)}, not {system!r}")
    if not isinstance(fault, str):
        return _error(f"fault must be one of {', '.join(FAULTS)}, not {fault!r}")
    if not isinstance(params, dict):
        return _error(f"params must be an object, not {params!r}")
    try:
        office.inject(system, fault, times=body.get("times"), number=body.get("number"), **params)
    except (ValueError, TypeError) as exc:
        return _error(str(exc))
    return _json({"injected": office.active_faults(system)[-1]}, 201)
