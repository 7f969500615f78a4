"""The monitor loop: every ``monitor_tick_s``, the lease holder probes, records, alerts and prunes.

Engine code: it takes the app's settings, database and catalogue, never Flask's request
machinery, so it runs the same as ``portal monitor`` (a process of its own) and inside
``portal demo`` (a thread). Every tick opens and closes its own sessions; a failing tick is
logged and the next one starts afresh. On stop the lease is released so another monitor
takes over at once instead of after ``monitor_lease_s``.

One tick, when the lease is held::

    due probes (read) -> run probes (no transaction open) -> record lookups + probes (one commit)
    -> alerts (portal.monitor.alerts, when installed) -> prune (every PRUNE_EVERY_S)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from portal import clock as portal_clock
from portal.monitor.checker import HealthChecker, TickConflict, TickReport
from portal.monitor.lease import Lease, make_lease
from portal.monitor.systems import systems_of

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(minutes=10)


@dataclass
class TickResult:
    """What one tick did: whether this monitor held the lease, and the checker's report."""

    leader: bool
    report: TickReport | None = None
    alerted: bool = False
    pruned: int | None = None
    errors: list[str] = field(default_factory=list)


class Monitor:
    """One monitor instance; any number may run, the lease holder acts."""

    def __init__(self, settings: Any, db: Any, catalog: Any, *, lease: Lease | None = None,
                 checker: HealthChecker | None = None, clock: Callable[[], datetime] | None = None,
                 dispatcher: Any = None) -> None:
        self.settings = settings
        self.db = db
        self.catalog = catalog
        self.lease = lease or make_lease(settings, db)
        self.checker = checker or HealthChecker(settings)
        self.clock = clock or portal_clock.utcnow
        self.leader = False
        self._dispatcher: Any = dispatcher  # default: portal.monitor.alerts.AlertDispatcher, when installed
        self._dispatcher_missing = False
        self._last_prune: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_app(cls, app: Flask, **kwargs: Any) -> Monitor:
        ext = app.extensions
        return cls(ext["portal.settings"], ext["portal.db"], ext["portal.catalog"], **kwargs)

    # -- one tick -------------------------------------------------------------------------

    def tick(self) -> TickResult:
        """Renew or take the lease; when held, do one round of work. Raises only on bugs in the steps."""
        held = self.lease.acquire()
        if held != self.leader:
            log.info("monitor %s %s the %s", self.lease.holder, "holds" if held else "no longer holds",
                     self.lease.description)
        self.leader = held
        if not held:
            return TickResult(leader=False)
        started = time.monotonic()
        now = self.clock()
        result = TickResult(leader=True)
        with self.db.session() as session:
            adapters = list(self.catalog.adapters(session))
            due = self.checker.due_probes(session, adapters, now)
            session.rollback()  # read only: no transaction stays open while probes wait on systems
        probed = self.checker.run_probes(due)
        with self.db.session() as session:
            try:
                result.report = self.checker.record(session, adapters, probed, self.clock(), holder=self.lease.holder)
                session.commit()
            except TickConflict as exc:
                session.rollback()
                log.warning("%s", exc.detail)
                result.errors.append(exc.detail)
                return result
        # Renew before alerting: probes may have taken a while, and sending is the step that must
        # not be done by a monitor whose lease has passed to another one.
        if not self.lease.acquire():
            self.leader = False
            log.warning("monitor %s lost the %s during a tick; alerts left to the new holder",
                        self.lease.holder, self.lease.description)
            return result
        result.alerted = self._dispatch(adapters, result)
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            result.pruned = self._prune(now, result)
        took = time.monotonic() - started
        if took > self.settings.monitor_lease_s / 2:
            log.warning("a monitor tick took %.1f s, more than half the lease (%s s): another monitor may take over",
                        took, self.settings.monitor_lease_s)
        return result

    def _dispatch(self, adapters: list[Any], result: TickResult) -> bool:
        dispatcher = self._alert_dispatcher()
        if dispatcher is None:
            return False
        try:
            with self.db.session() as session:
                dispatcher.dispatch(session, systems_of(adapters), self.clock())
                session.commit()
            return True
        except Exception as exc:  # alerts failing must not stop the health checks
            log.exception("alert dispatch failed")
            result.errors.append(f"alerts: {exc}")
            return False

    def _alert_dispatcher(self) -> Any:
        if self._dispatcher is None and not self._dispatcher_missing:
            try:
                from portal.monitor.alerts import AlertDispatcher
            except ImportError:
                self._dispatcher_missing = True
                log.info("alerts are not installed (no portal.monitor.alerts): health is recorded, nobody is told")
                return None
            self._dispatcher = AlertDispatcher(self.settings)
        return self._dispatcher

    def _prune(self, now: datetime, result: TickResult) -> int | None:
        try:
            with self.db.session() as session:
                prune_alerts = getattr(self._alert_dispatcher(), "prune", None)
                # Alerts first: the state changes they are about are kept while an alert names them.
                removed = prune_alerts(session, now) if prune_alerts is not None else 0
                removed += self.checker.prune(session, now)
                session.commit()
        except Exception as exc:
            log.exception("pruning monitor history failed")
            result.errors.append(f"prune: {exc}")
            return None
        self._last_prune = now
        return removed

    # -- the loop ---------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Tick every ``monitor_tick_s`` until ``stop`` is set; then release the lease."""
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.tick()
                except Exception:  # one bad tick (database restart, a bug) must not end monitoring
                    log.exception("monitor tick failed; trying again next tick")
                stop.wait(max(0.0, self.settings.monitor_tick_s - (time.monotonic() - started)))
        finally:
            self.close()

    def start_thread(self) -> threading.Thread:
        """Run the loop in a daemon thread (``portal demo``); :meth:`stop` ends it."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, args=(self._stop,), name="portal-monitor",
                                        daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 15.0) -> None:
        """End the thread started by :meth:`start_thread` and release the lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """Release the lease (another monitor takes over at once) and the probe threads."""
        if self.leader:
            self.lease.release()
            self.leader = False
            log.info("monitor %s released the %s", self.lease.holder, self.lease.description)
        self.checker.close()
        closer = getattr(self.lease, "close", None)
        if closer is not None:
            closer()
