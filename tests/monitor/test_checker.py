"""The checker: real lookups and probes become observations, states, checks and state changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.audit.record import Actor, Event, record
from portal.monitor.checker import HealthChecker, TickConflict
from portal.monitor.models import HealthCheck, MonitorLease, StateTransition, SystemHealth
from portal.monitor.states import Observation


@pytest.fixture
def settings(app):
    return app.extensions["portal.settings"]


@pytest.fixture
def checker(settings):
    checker = HealthChecker(settings)
    yield checker
    checker.close()


@pytest.fixture
def database(app):
    return app.extensions["portal.db"]


def now() -> datetime:
    return datetime.now(UTC)


def lookup_event(database, systems: dict[str, str], latency: dict[str, int] | None = None,
                 not_attempted: list[str] | None = None) -> None:
    """Write a customer.lookup audit event as the lookup service does."""
    details = {"systems": systems, "latency_ms": latency or {k: 20 for k in systems}}
    if not_attempted is not None:
        details["not_attempted"] = not_attempted
    with database.session() as session:
        record(session, Actor("alice", ("agent",)), Event(action="customer.lookup", customer="13800000000",
                                                          details=details))
        session.commit()


def tick(checker, database, adapters, probed=(), at=None):
    with database.session() as session:
        report = checker.record(session, list(adapters), list(probed), at or now(), holder="test")
        session.commit()
    return report


def states(database) -> dict[str, str]:
    with database.session() as session:
        return dict(session.execute(select(SystemHealth.system_id, SystemHealth.state)).all())


def test_new_systems_start_unknown_and_removed_ones_are_dropped(checker, database, demo_adapters):
    tick(checker, database, demo_adapters.values())
    assert set(states(database).values()) == {"unknown"} and len(states(database)) == 12
    tick(checker, database, [a for a in demo_adapters.values() if a.id != "mail"])
    assert "mail" not in states(database) and len(states(database)) == 11


def test_real_lookups_count_and_a_down_system_gets_a_transition(checker, database, demo_adapters):
    lookup_event(database, {"boss": "timeout"})  # before the monitor ever ran: history, not news
    adapters = [demo_adapters["boss"], demo_adapters["vas"]]
    tick(checker, database, adapters)
    lookup_event(database, {"boss": "ok", "vas": "ok"}, {"boss": 30, "vas": 40})
    report = tick(checker, database, adapters)
    assert report.lookups == 1 and states(database) == {"boss": "up", "vas": "up"}
    for _ in range(3):
        lookup_event(database, {"boss": "unavailable", "vas": "not_found"})
    report = tick(checker, database, adapters)
    assert report.lookups == 3
    assert [(system_id, c.to_state) for system_id, c in report.transitions] == [("boss", "down")]
    with database.session() as session:
        boss = session.get(SystemHealth, "boss")
        change = session.get(StateTransition, boss.transition_id)
        assert (change.from_state, change.to_state) == ("up", "down")
        assert change.reason == "3 failed checks in a row: could not be reached by an agent's lookup"
        assert boss.reason == change.reason and boss.last_error == change.reason.split(": ", 1)[1]
        assert session.scalar(select(func.count()).select_from(HealthCheck)
                              .where(HealthCheck.source == "lookup")) == 8


def test_systems_a_breaker_refused_are_no_news(checker, database, demo_adapters):
    adapters = [demo_adapters["boss"]]
    tick(checker, database, adapters)
    lookup_event(database, {"boss": "ok"})
    for _ in range(5):
        lookup_event(database, {"boss": "unavailable"}, not_attempted=["boss"])
    tick(checker, database, adapters)
    assert states(database) == {"boss": "up"}


def test_a_backlog_is_read_in_bounded_batches(settings, database, demo_adapters):
    small = HealthChecker(settings, batch=2)
    adapters = [demo_adapters["vas"]]
    tick(small, database, adapters)
    for _ in range(5):
        lookup_event(database, {"vas": "ok"})
    assert [tick(small, database, adapters).lookups for _ in range(4)] == [2, 2, 1, 0]
    with database.session() as session:
        assert session.get(MonitorLease, "monitor.lookups").holder == "test"


def test_probe_observations_are_recorded_and_the_next_probe_is_scheduled(checker, database, demo_adapters):
    adapters = [demo_adapters["boss"], demo_adapters["loyalty"]]
    with database.session() as session:
        due = checker.due_probes(session, adapters, now())
    assert sorted(task.adapter.id for task in due) == ["boss", "loyalty"]
    assert {task.adapter.id: task.kind for task in due} == {"boss": "wsdl", "loyalty": "canary"}
    at = now()
    probed = [("boss", Observation(at, "wsdl", False, "unavailable", 2, "connection refused")),
              ("loyalty", Observation(at, "canary", True, "ok", 55))]
    tick(checker, database, adapters, probed, at=at)
    with database.session() as session:
        assert checker.due_probes(session, adapters, at + timedelta(seconds=29)) == []
        assert len(checker.due_probes(session, adapters, at + timedelta(seconds=31))) == 2
        boss = session.get(SystemHealth, "boss")
        assert (boss.state, boss.failures, boss.last_error) == ("unknown", 1, "connection refused")
        loyalty = session.get(SystemHealth, "loyalty")
        assert (loyalty.state, loyalty.last_latency_ms) == ("up", 55)
        assert session.scalar(select(func.count()).select_from(HealthCheck)) == 2


def test_disabled_systems_and_probe_none_are_not_probed(checker, database, demo_adapters):
    from portal.adapters.registry import build_adapter

    quiet = build_adapter({"id": "quiet", "name": "Q", "kind": "xml", "url": "http://127.0.0.1:9/x",
                           "body": "<q>{customer}</q>", "probe": {"kind": "none"}}, "test")
    off = build_adapter({"id": "off", "name": "O", "kind": "xml", "url": "http://127.0.0.1:9/x", "enabled": False,
                         "body": "<q>{customer}</q>"}, "test")
    with database.session() as session:
        assert checker.due_probes(session, [quiet, off], now()) == []


def test_a_second_monitor_recording_meanwhile_makes_the_first_tick_give_way(settings, database, demo_adapters):
    adapters = [demo_adapters["vas"]]
    first, second = HealthChecker(settings), HealthChecker(settings)
    tick(first, database, adapters)
    lookup_event(database, {"vas": "ok"})
    with database.session() as stale:
        cursor = stale.get(MonitorLease, "monitor.lookups")  # first reads the cursor ...
        tick(second, database, adapters)  # ... second records the same lookups and commits ...
        with pytest.raises(TickConflict):  # ... so first's tick must not count them again
            first.record(stale, adapters, [], now())
        stale.rollback()
        assert cursor.cursor is not None
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(HealthCheck)) == 1


def test_prune_forgets_old_observations_but_keeps_the_current_state_change(checker, database, demo_adapters):
    adapters = [demo_adapters["vas"]]
    old = now() - timedelta(days=30)
    tick(checker, database, adapters, [("vas", Observation(old, "connect", True, "ok", 5))], at=old)
    tick(checker, database, adapters, [("vas", Observation(now(), "connect", True, "ok", 5))])
    with database.session() as session:
        removed = checker.prune(session, now())
        session.commit()
        assert removed == 1
        assert session.scalar(select(func.count()).select_from(HealthCheck)) == 1
        assert session.scalar(select(func.count()).select_from(StateTransition)) == 1  # unknown -> up, current


@pytest.mark.backoffice
def test_probes_of_a_stopped_system_take_it_down_after_three_ticks(checker, database, demo_adapters, backoffice):
    adapters = [demo_adapters["boss"], demo_adapters["smsc"]]
    backoffice.stop_system("boss")
    at = now()
    for _ in range(3):
        with database.session() as session:
            due = checker.due_probes(session, adapters, at)
        assert len(due) == 2
        tick(checker, database, adapters, checker.run_probes(due), at=at)
        at += timedelta(seconds=31)
    assert states(database) == {"boss": "down", "smsc": "up"}
    with database.session() as session:
        boss = session.get(SystemHealth, "boss")
        assert boss.reason == "3 failed checks in a row: connection refused"


def test_read_helpers_give_percentiles_error_rates_errors_and_history(checker, database, demo_adapters):
    from portal.monitor import readings

    adapters = [demo_adapters["vas"], demo_adapters["wap"]]
    start = now() - timedelta(minutes=30)
    probed = [("vas", Observation(start + timedelta(seconds=i), "canary", True, "ok", ms))
              for i, ms in enumerate(range(10, 1010, 10))]  # 100 answers: 10, 20, ... 1000 ms
    probed += [("wap", Observation(start + timedelta(seconds=i), "connect", False, "unavailable", 1,
                                   f"connection refused #{i}")) for i in range(4)]
    probed.append(("wap", Observation(start - timedelta(hours=2), "connect", True, "ok", 3)))  # outside the window
    tick(checker, database, adapters, probed)
    with database.session() as session:
        stats = readings.system_stats(session, now() - timedelta(hours=1))
        assert (stats["vas"].p50_ms, stats["vas"].p95_ms, stats["vas"].p99_ms) == (500, 950, 990)
        assert stats["vas"].checks == 100 and stats["vas"].error_rate == 0.0
        assert stats["wap"].checks == 4 and stats["wap"].error_rate == 1.0
        assert readings.system_stats(session, now() - timedelta(hours=1), ["wap"]).keys() == {"wap"}

        errors = readings.recent_errors(session, "wap", limit=2)
        assert [e.error for e in errors] == ["connection refused #3", "connection refused #2"]
        assert errors[0].checked_at.tzinfo is not None
        history = readings.state_history(session, "wap")
        assert [(h.from_state, h.to_state) for h in history] == [("up", "down"), ("unknown", "up")]
        assert history[0].reason == "3 failed checks in a row: connection refused #2"
        states = {row.system_id: row for row in readings.current_states(session)}
        assert states["wap"].state == "down" and states["wap"].since.tzinfo is not None
        session.commit()  # the copies are detached: nothing is written back
    assert readings.percentile([], 0.5) is None and readings.percentile([7], 0.99) == 7
