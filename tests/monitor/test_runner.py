"""The monitor loop: of two monitors on one database only one acts, and the other takes over."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select

from portal.adapters.registry import build_adapter
from portal.monitor.models import HealthCheck, MonitorLease, SystemHealth
from portal.monitor.runner import Monitor


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class Catalog:
    """The adapters in force, as LiveCatalog hands them out."""

    def __init__(self, adapters) -> None:
        self.list = adapters

    def adapters(self, session):
        return self.list


def socket_adapter(system_id: str, port: int, interval_s: float = 1):
    return build_adapter({"id": system_id, "name": system_id.title(), "kind": "socket", "owner": "ops",
                          "host": "127.0.0.1", "port": port, "request": "Q {customer}", "pattern": "^OK (?P<x>.*)", "timeout_s": 1.0,
                          "probe": {"kind": "connect", "interval_s": interval_s}}, "test")


@pytest.fixture
def catalog(tcp_server, unused_port):
    adapters = [socket_adapter("alpha", tcp_server[1]), socket_adapter("beta", unused_port)]
    yield Catalog(adapters)
    for adapter in adapters:
        adapter.close()


@pytest.fixture
def database(app):
    return app.extensions["portal.db"]


class Dispatcher:
    """Stands in for portal.monitor.alerts.AlertDispatcher: notes what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def dispatch(self, session, systems, now) -> None:
        self.calls.append(tuple(systems))


def monitor(app, catalog, **kwargs) -> Monitor:
    return Monitor(app.extensions["portal.settings"], app.extensions["portal.db"], catalog, **kwargs)


def checks(database) -> dict[str, int]:
    with database.session() as session:
        return dict(session.execute(select(HealthCheck.system_id, func.count()).group_by(HealthCheck.system_id)).all())


def test_of_two_monitors_only_the_lease_holder_probes_once_per_interval(app, catalog, database):
    clock = Clock()
    first_alerts, second_alerts = Dispatcher(), Dispatcher()
    first = monitor(app, catalog, clock=clock, dispatcher=first_alerts)
    second = monitor(app, catalog, clock=clock, dispatcher=second_alerts)
    try:
        assert first.tick().leader and not second.tick().leader
        assert checks(database) == {"alpha": 1, "beta": 1}
        assert first.tick().report.probes == 0 and not second.tick().leader  # not due again yet
        assert checks(database) == {"alpha": 1, "beta": 1}
        clock.now += timedelta(seconds=1.5)
        first.tick(), second.tick()
        assert checks(database) == {"alpha": 2, "beta": 2}
        assert first_alerts.calls == [("alpha", "beta")] * 3 and second_alerts.calls == []
        with database.session() as session:
            assert session.get(SystemHealth, "alpha").state == "up"
            assert session.get(SystemHealth, "beta").failures == 2

        first.close()  # a clean stop releases the lease: the other takes over at once
        clock.now += timedelta(seconds=1.5)
        assert second.tick().leader
        assert checks(database) == {"alpha": 3, "beta": 3}
        with database.session() as session:
            assert session.get(SystemHealth, "beta").state == "down"
            assert session.get(MonitorLease, "monitor").holder == second.lease.holder
    finally:
        first.close()
        second.close()


def test_without_the_alerts_module_the_monitor_still_records(app, catalog, database, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "portal.monitor.alerts", None)  # import fails as if not installed
    lone = monitor(app, catalog)
    try:
        result = lone.tick()
        assert result.leader and not result.alerted and result.report.observations == 2
    finally:
        lone.close()


def test_a_failing_alert_dispatch_does_not_stop_the_checks(app, catalog, database):
    class Broken:
        def dispatch(self, session, systems, now):
            raise RuntimeError("smtp on fire")

    lone = monitor(app, catalog, dispatcher=Broken())
    try:
        result = lone.tick()
        assert result.report.observations == 2 and result.errors == ["alerts: smtp on fire"]
    finally:
        lone.close()


def wait_for(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


def test_threads_one_acts_and_the_other_takes_over_when_it_stops(app, catalog, database):
    settings = app.extensions["portal.settings"].model_copy(update={"monitor_tick_s": 0.05})
    db = app.extensions["portal.db"]
    first = Monitor(settings, db, catalog, dispatcher=Dispatcher())
    second = Monitor(settings, db, catalog, dispatcher=Dispatcher())
    first.start_thread()
    wait_for(lambda: first.leader, "the first monitor to take the lease")
    second.start_thread()
    try:
        wait_for(lambda: checks(database).get("alpha", 0) >= 3, "three probes of alpha")
        assert not second.leader
        first.stop()
        wait_for(lambda: second.leader, "the second monitor to take over")
        before = checks(database)["alpha"]
        wait_for(lambda: checks(database)["alpha"] >= before + 2, "the second monitor to probe")
    finally:
        first.stop()
        second.stop()
    with database.session() as session:
        times = sorted(session.scalars(select(HealthCheck.checked_at).where(HealthCheck.system_id == "alpha")))
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert min(gaps) > 0.5, f"alpha was probed twice in one interval: {gaps}"  # never by both monitors at once


def test_a_failing_tick_is_logged_and_the_loop_goes_on(app, catalog, caplog):
    settings = app.extensions["portal.settings"].model_copy(update={"monitor_tick_s": 0.01})
    lone = Monitor(settings, app.extensions["portal.db"], catalog, dispatcher=Dispatcher())
    calls = []
    real = lone.tick

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database restarting")
        return real()

    lone.tick = flaky
    stop = threading.Event()
    thread = threading.Thread(target=lone.run_forever, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: len(calls) >= 3, "the loop to go on after a failed tick")
    finally:
        stop.set()
        thread.join(timeout=15)
    assert "monitor tick failed" in caplog.text and not thread.is_alive()
    assert lone.lease.current_holder() is None  # released on the way out


def test_a_monitor_that_loses_the_lease_during_a_tick_does_not_alert(app, catalog, database):
    class Fickle:
        """Held when the tick starts, gone by the time alerts would go out."""

        holder, description = "here:1:a", "test lease"

        def __init__(self) -> None:
            self.answers = [True, False]

        def acquire(self) -> bool:
            return self.answers.pop(0)

        def release(self) -> None:
            pass

        def current_holder(self):
            return None

    alerts = Dispatcher()
    lone = monitor(app, catalog, lease=Fickle(), dispatcher=alerts)
    try:
        result = lone.tick()
        assert result.report.observations == 2  # what it saw is recorded ...
        assert alerts.calls == [] and not lone.leader  # ... but the new holder does the telling
    finally:
        lone.close()
