"""Looking at a system between lookups: a TCP connect, a WSDL fetch, or a canary lookup.

Each probe is bounded by a timeout, measures its latency and returns an
:class:`~portal.monitor.states.Observation`; nothing a system does (refuse, hang,
send garbage or a login page) makes a probe raise. The kind comes from the
adapter's ``[probe]`` table (:meth:`ProbeSpec.kind_for`):

* ``connect`` — the system accepts a TCP connection on its address. Cheap, but a
  hung system that still accepts connections passes it.
* ``wsdl``    — GET the service description (SOAP) with the shared HTTP plumbing
  (size limit, no proxies from the environment) and parse it with the hardened
  parser: it must be a WSDL ``definitions`` (or 2.0 ``description``) document. A
  login page or a broken document is a failure with a plain reason.
* ``canary``  — a real lookup of a test customer through the adapter: ``ok`` and
  ``not_found`` both prove the system answers; error, timeout and unavailable do not.
  It calls :meth:`Adapter.lookup` directly, not through the circuit breaker, so the
  monitor sees the system itself and its probes never open or close the breaker.

``connect`` and ``wsdl`` obey the adapter's egress policy like its lookups do
(:mod:`portal.adapters.egress`): a refused destination is never contacted, and
the observation says why.
"""

from __future__ import annotations

import logging
import socket
import time
from datetime import datetime

from portal import clock
from portal.adapters.base import Adapter, LookupContext, Status
from portal.adapters.boundary import Scope, running
from portal.adapters.egress import EgressRefused, open_connection
from portal.adapters.httpclient import make_session, request
from portal.adapters.xmlsafe import parse_xml
from portal.errors import BackendError, BackendProtocolError
from portal.monitor.states import Observation

log = logging.getLogger(__name__)

KINDS = ("connect", "wsdl", "canary", "none")
WSDL_MAX_BYTES = 2_000_000
WSDL_NAMESPACES = {
    "http://schemas.xmlsoap.org/wsdl/": "definitions",  # WSDL 1.1
    "http://www.w3.org/ns/wsdl": "description",  # WSDL 2.0
}
ANSWERED = (Status.OK, Status.NOT_FOUND)


def run_probe(adapter: Adapter, kind: str, timeout_s: float, number: str | None = None) -> Observation | None:
    """Run the ``kind`` probe of ``adapter`` within ``timeout_s``; ``None`` for ``none``. Never raises."""
    if kind == "none":
        return None
    started = time.perf_counter()
    try:
        if kind == "connect":
            return _connect(adapter, timeout_s, started)
        if kind == "wsdl":
            return _wsdl(adapter, timeout_s, started)
        if kind == "canary":
            return _canary(adapter, timeout_s, number, started)
        return _failed(kind, started, "error", f"unknown probe kind {kind!r}")
    except Exception:  # a bug here must cost one observation, never the monitor
        log.exception("%s probe of %s failed unexpectedly", kind, adapter.id)
        return _failed(kind, started, "error", "probe failed unexpectedly (logged)")


def _connect(adapter: Adapter, timeout_s: float, started: float) -> Observation:
    address = adapter.address()
    if address is None:
        return _failed("connect", started, "error", "the adapter names no address to connect to")
    policy = adapter.boundary.egress
    try:
        if policy is None:
            sock = socket.create_connection(address, timeout=timeout_s)
        else:  # the adapter's own egress rules hold for its probe too: checked after resolution
            sock = open_connection(policy.resolve_and_check(*address, adapter.config.owner), timeout_s)
        sock.close()
    except EgressRefused as exc:
        return _failed("connect", started, exc.result_status, exc.detail)
    except TimeoutError:
        return _failed("connect", started, "timeout", f"no connection within {timeout_s:g} s")
    except ConnectionRefusedError:
        return _failed("connect", started, "unavailable", "connection refused")
    except OSError as exc:
        return _failed("connect", started, "unavailable", f"cannot connect ({exc.strerror or type(exc).__name__})")
    return _answered("connect", started)


def _wsdl(adapter: Adapter, timeout_s: float, started: float) -> Observation:
    url = adapter.service_description_url()
    if not url:
        return _failed("wsdl", started, "error", "the adapter names no service description (WSDL) to fetch")
    context = LookupContext(deadline=time.monotonic() + timeout_s, budget=timeout_s)
    session = make_session(pool_maxsize=1)
    try:
        # As the adapter's scope: its egress policy checks every connection (and redirect) of the fetch.
        with running(Scope(adapter.boundary, adapter.id, adapter.config.owner)):
            answer = request(session, "GET", url, context, max_bytes=WSDL_MAX_BYTES, record=False)
    except BackendError as exc:
        return _failed("wsdl", started, exc.result_status, exc.detail)
    finally:
        session.close()
    if not answer.ok:
        return _failed("wsdl", started, "error", f"HTTP {answer.status} instead of the WSDL")
    problem = wsdl_problem(answer.content, answer.headers.get("Content-Type", ""))
    if problem:
        return _failed("wsdl", started, "error", problem)
    return _answered("wsdl", started)


def wsdl_problem(content: bytes, content_type: str = "") -> str | None:
    """Why ``content`` is not a WSDL document, in words people read; ``None`` when it is one."""
    if "html" in content_type.lower() and b"<definitions" not in content[:4096]:
        return "answered with a web page instead of the WSDL (a login page?)"
    try:
        root = parse_xml(content, max_bytes=WSDL_MAX_BYTES)
    except BackendProtocolError as exc:
        return f"the WSDL is not usable XML: {exc.detail}"
    namespace, _, local = root.tag.rpartition("}") if isinstance(root.tag, str) else ("", "", "")
    namespace = namespace.lstrip("{")
    if local.lower() == "html":
        return "answered with a web page instead of the WSDL (a login page?)"
    if WSDL_NAMESPACES.get(namespace) != local:
        return f"not a WSDL document (root element <{local or root.tag}>)"
    return None


def _canary(adapter: Adapter, timeout_s: float, number: str | None, started: float) -> Observation:
    if not number:
        return _failed("canary", started, "error", "a canary probe needs a test customer number ([probe] number)")
    result = adapter.lookup(number, timeout=timeout_s)
    if result.status in ANSWERED:
        return Observation(_now(), "canary", True, result.status.value, result.elapsed_ms)
    return Observation(_now(), "canary", False, result.status.value, result.elapsed_ms,
                       result.error or result.status.value)


def _answered(source: str, started: float) -> Observation:
    return Observation(_now(), source, True, "ok", _elapsed_ms(started))


def _failed(source: str, started: float, status: str, error: str) -> Observation:
    return Observation(_now(), source, False, status, _elapsed_ms(started), error[:300])


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _now() -> datetime:
    return clock.utcnow()
