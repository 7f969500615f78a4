"""``/metrics``: the portal in Prometheus text format.

Two kinds of numbers:

* **Counters and histograms** (lookups, per-system latency and results, logins, audit writes) are fed
  by one observer of *committed* audit events (:func:`portal.audit.record.observe`): what the audit
  log holds is what the metrics count, a rolled-back operation counts nowhere, and a failing metric
  never fails the operation (the forwarder loop logs and carries on).
* **Scrape-time gauges** (this instance's circuit breakers, the monitor's verdict per system, whether
  the monitor process runs) are read when Prometheus asks, by a collector built for that one scrape.

One :class:`PortalMetrics` per process, made on first use: Prometheus counts per process, and tests
that build many apps in one process must not register the same names twice.

Access: metrics name every back-office system and reveal lookup and sign-in volumes, so they are
served to loopback clients (a Prometheus agent on the same machine) and, from anywhere else, only with
``Authorization: Bearer <metrics_token>``; without a configured token other clients get 403. A request
that came through a proxy (``X-Forwarded-For``/``Forwarded``) is not treated as loopback, even when the
proxy itself connects from 127.0.0.1.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

from portal.adapters.resilience import BreakerState, guard_for
from portal.audit.record import observe
from portal.monitor import queries
from portal.monitor.models import STATES
from portal.monitor.selfcheck import monitor_process

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
LOOKUP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
BACKEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
LOGIN_OUTCOMES = {"auth.login": "success", "auth.login_failed": "failure", "auth.lockout": "lockout"}


class PortalMetrics:
    """The process's registry and the counters fed from audit events."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.lookups = Counter("portal_lookups", "Customer lookups, by outcome (success, denied, ...)",
                               ["outcome"], registry=r)
        self.lookup_duration = Histogram("portal_lookup_duration_seconds",
                                         "Time from the number to the combined view, whole fan-out",
                                         buckets=LOOKUP_BUCKETS, registry=r)
        self.backend_latency = Histogram("portal_backend_latency_seconds",
                                         "Answer time of one back-office system within a lookup",
                                         ["system"], buckets=BACKEND_BUCKETS, registry=r)
        self.backend_results = Counter("portal_backend_results", "Results of back-office systems in lookups",
                                       ["system", "status"], registry=r)
        self.logins = Counter("portal_logins", "Sign-ins: success, failure, lockout", ["outcome"], registry=r)
        self.audit_events = Counter("portal_audit_events", "Audit events written (committed)", ["action"],
                                    registry=r)

    def observe(self, document: dict[str, Any]) -> None:
        """Count one committed audit event (called after the commit by the audit forwarder loop)."""
        action = str(document.get("action") or "unknown")
        self.audit_events.labels(action=action).inc()
        if action in LOGIN_OUTCOMES:
            self.logins.labels(outcome=LOGIN_OUTCOMES[action]).inc()
        elif action == "customer.lookup":
            self._lookup(str(document.get("outcome") or "unknown"), document.get("details") or {})

    def _lookup(self, outcome: str, details: dict[str, Any]) -> None:
        self.lookups.labels(outcome=outcome).inc()
        elapsed = details.get("elapsed_ms")
        if isinstance(elapsed, (int, float)):
            self.lookup_duration.observe(elapsed / 1000.0)
        systems = details.get("systems")
        if not isinstance(systems, dict):
            return
        latency = details.get("latency_ms") if isinstance(details.get("latency_ms"), dict) else {}
        skipped = set(details.get("not_attempted") or ())
        for system, status in systems.items():
            self.backend_results.labels(system=str(system), status=str(status)).inc()
            ms = latency.get(system)
            # A system a breaker or bulkhead refused was not asked: its "latency" says nothing of it.
            if system not in skipped and isinstance(ms, (int, float)):
                self.backend_latency.labels(system=str(system)).observe(ms / 1000.0)


_metrics: PortalMetrics | None = None
_lock = threading.Lock()


def process_metrics() -> PortalMetrics:
    """The one :class:`PortalMetrics` of this process, subscribed to audit events on first use."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = PortalMetrics()
            observe("portal.monitor.metrics", _metrics.observe)
        return _metrics


@dataclass(frozen=True)
class Snapshot:
    """What one scrape reads: breaker state per system (this instance), monitor state, monitor alive."""

    breakers: dict[str, str]
    states: dict[str, str]
    monitor_running: bool


def state_families(snapshot: Snapshot) -> list[Metric]:
    """Gauges with one series per possible state, 1 for the current one (the Prometheus enum idiom)."""
    breaker = GaugeMetricFamily("portal_breaker_state", "Circuit breaker of each system in this instance",
                                labels=["system", "state"])
    for system, current in snapshot.breakers.items():
        for state in BreakerState:
            breaker.add_metric([system, state.value], 1.0 if state.value == current else 0.0)
    system_state = GaugeMetricFamily("portal_system_state", "The monitor's verdict on each system",
                                     labels=["system", "state"])
    for system, current in snapshot.states.items():
        for state in STATES:
            system_state.add_metric([system, state], 1.0 if state == current else 0.0)
    running = GaugeMetricFamily("portal_monitor_running",
                                "1 while a monitor process holds an unexpired lease, else 0")
    running.add_metric([], 1.0 if snapshot.monitor_running else 0.0)
    return [breaker, system_state, running]


class _Scrape:
    """The process registry plus this scrape's gauges, as one collector for ``generate_latest``."""

    def __init__(self, registry: CollectorRegistry, extra: Iterable[Metric]) -> None:
        self.registry = registry
        self.extra = list(extra)

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        yield from self.extra


def take_snapshot(app: Flask) -> Snapshot:
    database = app.extensions["portal.db"]
    with database.session() as session:
        adapters = [a for a in app.extensions["portal.catalog"].adapters(session) if a.config.enabled]
        breakers = {a.id: str(guard_for(a).health().get("state", "closed")) for a in adapters}
        health = queries.health_rows(session, [a.id for a in adapters])
        states = {a.id: health[a.id].state if a.id in health else "unknown" for a in adapters}
        running = monitor_process(app, session).running
    return Snapshot(breakers=breakers, states=states, monitor_running=running)


def refusal(request: Request, token: str) -> Response | None:
    """Why this client may not read the metrics (a 401/403 response), or ``None`` when it may."""
    proxied = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    if request.remote_addr in LOOPBACK and not proxied:
        return None
    if not token:
        return _plain(403, "metrics are served to loopback clients only (set metrics_token to allow others)")
    sent = request.headers.get("Authorization", "")
    if not sent.lower().startswith("bearer "):
        return _plain(401, "send 'Authorization: Bearer <metrics_token>'", {"WWW-Authenticate": 'Bearer realm="metrics"'})
    if not hmac.compare_digest(sent[7:].strip().encode(), token.encode()):
        return _plain(403, "wrong metrics token")
    return None


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(text + "\n", status=status, content_type="text/plain; charset=utf-8", headers=headers)


class MetricsEndpoint:
    """A WSGI app for ``/metrics`` in front of the portal (``DispatcherMiddleware``, the prometheus idiom).

    It stands outside Flask's request cycle on purpose: a scrape loads no operator session, and the
    metrics token is not mistaken for a personal API token by the sign-in layer.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = refusal(request, self.app.extensions["portal.settings"].metrics_token)
        if response is None:
            if request.method not in ("GET", "HEAD") or request.path not in ("", "/"):
                response = _plain(404 if request.path not in ("", "/") else 405, "GET /metrics")
            else:
                response = self.scrape()
        return response(environ, start_response)

    def scrape(self) -> Response:
        with self.app.app_context():
            try:
                families = state_families(take_snapshot(self.app))
                database_up = 1.0
            except SQLAlchemyError as exc:
                # The counters and process metrics still say something; the missing states say the rest.
                log.warning("metrics: the database could not be read: %s", exc)
                families, database_up = [], 0.0
        up = GaugeMetricFamily("portal_database_up", "1 when this scrape could read the portal's database")
        up.add_metric([], database_up)
        families.append(up)
        body = generate_latest(_Scrape(process_metrics().registry, families))  # type: ignore[arg-type]
        return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    process_metrics()  # subscribe now, so events before the first scrape count too
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": MetricsEndpoint(app)})  # type: ignore[method-assign]
