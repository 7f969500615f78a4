"""Retries with jitter, the circuit breaker and the bulkhead: unit tests with fakes and a fake clock,
and one integration test against the simulated back office."""

from __future__ import annotations

import random
import shutil
import threading
import time
from pathlib import Path

import pytest

from portal.adapters.base import Adapter, Extracted, LookupContext, Status, SystemResult
from portal.adapters.config import AdapterConfig
from portal.adapters.fanout import fan_out, make_executor
from portal.adapters.registry import AdapterRegistry, build_adapter, load_adapter_dir
from portal.adapters.resilience import (
    MIN_ATTEMPT_S,
    BreakerState,
    Bulkhead,
    CircuitBreaker,
    CircuitOpen,
    Guard,
    guard_for,
    install_guard,
)
from portal.errors import BackendUnavailable, ConfigError

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    """Monotonic time that moves only when told to (or when the guard sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(clock: FakeClock, *outcomes: tuple[Status, float]):
    """An attempt that answers each status in turn, taking that many (fake) seconds."""
    calls: list[float] = []
    queue = list(outcomes)

    def attempt(left: float) -> SystemResult:
        calls.append(left)
        status, took = queue.pop(0)
        clock.now += took
        error = None if status in (Status.OK, Status.NOT_FOUND) else f"{status.value} happened"
        return SystemResult("sys", status, elapsed_ms=int(took * 1000), error=error)

    attempt.calls = calls  # type: ignore[attr-defined]
    return attempt


def make_guard(clock: FakeClock, **kw) -> Guard:
    kw.setdefault("rng", random.Random(7))
    return Guard("sys", "Test system", clock=clock, sleep=clock.sleep, wall_clock=lambda: 1_700_000_000.0, **kw)


def run(guard: Guard, attempt, deadline: float) -> SystemResult:
    return guard.call(attempt, deadline)


# -- retries ----------------------------------------------------------------------------


def test_unavailable_is_retried_after_a_jittered_pause():
    clock = FakeClock()
    guard = make_guard(clock, retries=3, backoff_s=0.1)
    attempt = scripted(clock, (Status.UNAVAILABLE, 0.01), (Status.UNAVAILABLE, 0.01), (Status.OK, 0.02))
    result = run(guard, attempt, deadline=clock.now + 2.0)
    assert result.status is Status.OK and result.error is None
    assert len(attempt.calls) == 3
    assert 0 <= clock.sleeps[0] <= 0.1 and 0 <= clock.sleeps[1] <= 0.2  # full jitter, doubling cap
    assert len(set(clock.sleeps)) == 2
    assert result.elapsed_ms == int(round((0.04 + sum(clock.sleeps)) * 1000))


def test_jitter_spreads_pauses():
    pauses = set()
    for seed in range(20):
        clock = FakeClock()
        guard = make_guard(clock, retries=1, backoff_s=0.1, rng=random.Random(seed))
        run(guard, scripted(clock, (Status.UNAVAILABLE, 0.0), (Status.OK, 0.0)), clock.now + 1)
        pauses.add(round(clock.sleeps[0], 4))
    assert len(pauses) == 20 and min(pauses) >= 0 and max(pauses) <= 0.1


def test_retries_are_bounded_and_say_so():
    clock = FakeClock()
    guard = make_guard(clock, retries=2)
    attempt = scripted(clock, *[(Status.UNAVAILABLE, 0.0)] * 5)
    result = run(guard, attempt, clock.now + 5)
    assert len(attempt.calls) == 3
    assert (result.status, result.error) == (Status.UNAVAILABLE, "unavailable happened (after 3 attempts)")


@pytest.mark.parametrize("status", [Status.NOT_FOUND, Status.ERROR, Status.OK])
def test_answers_are_never_retried(status):
    clock = FakeClock()
    guard = make_guard(clock, retries=3)
    attempt = scripted(clock, (status, 0.01), (Status.OK, 0.01))
    result = run(guard, attempt, clock.now + 5)
    assert result.status is status and len(attempt.calls) == 1 and clock.sleeps == []
    assert result.error is None or "attempts" not in result.error


def test_retries_never_go_beyond_the_deadline():
    clock = FakeClock()
    guard = make_guard(clock, retries=3, backoff_s=10.0)  # huge backoff: the pause must be capped
    attempt = scripted(clock, (Status.UNAVAILABLE, 0.1), (Status.UNAVAILABLE, 0.0), (Status.OK, 0.0))
    deadline = clock.now + 0.3
    run(guard, attempt, deadline)
    assert all(left > 0 for left in attempt.calls)
    assert clock.now <= deadline - MIN_ATTEMPT_S + 1e-9  # every retry left room for a real try
    # Nothing left: no retry at all.
    clock2 = FakeClock()
    guard2 = make_guard(clock2, retries=3)
    attempt2 = scripted(clock2, (Status.UNAVAILABLE, 0.28), (Status.OK, 0.0))
    assert run(guard2, attempt2, clock2.now + 0.3).status is Status.UNAVAILABLE
    assert len(attempt2.calls) == 1


def test_a_timeout_is_retried_only_if_a_whole_try_still_fits():
    clock = FakeClock()
    guard = make_guard(clock, retries=1, backoff_s=0.0)
    fits = scripted(clock, (Status.TIMEOUT, 0.5), (Status.OK, 0.1))
    assert run(guard, fits, clock.now + 2.0).status is Status.OK
    assert fits.calls == [2.0, 1.5]  # the retry gets only what is left
    clock2 = FakeClock()
    guard2 = make_guard(clock2, retries=1, backoff_s=0.0)
    does_not_fit = scripted(clock2, (Status.TIMEOUT, 0.5), (Status.OK, 0.1))
    assert run(guard2, does_not_fit, clock2.now + 0.8).status is Status.TIMEOUT
    assert len(does_not_fit.calls) == 1


def test_retries_zero_means_one_try():
    clock = FakeClock()
    guard = make_guard(clock, retries=0)
    attempt = scripted(clock, (Status.UNAVAILABLE, 0.0), (Status.OK, 0.0))
    assert run(guard, attempt, clock.now + 1).status is Status.UNAVAILABLE


def test_an_attempt_that_raises_costs_a_panel_not_a_slot():
    clock = FakeClock()
    guard = make_guard(clock, max_concurrency=1)

    def broken(left):
        raise RuntimeError("kind bug")

    result = run(guard, broken, clock.now + 1)
    assert (result.status, result.error) == (Status.ERROR, "unexpected adapter failure (logged)")
    assert guard.bulkhead.in_use == 0


# -- circuit breaker -------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_refuses_at_once():
    clock = FakeClock()
    guard = make_guard(clock, retries=0, breaker_failures=3, breaker_reset_s=30)
    for status in (Status.TIMEOUT, Status.ERROR, Status.OK, Status.TIMEOUT, Status.UNAVAILABLE):
        run(guard, scripted(clock, (status, 0.01)), clock.now + 1)
    assert guard.breaker.state is BreakerState.CLOSED and guard.breaker.failures == 2  # the ok reset the count
    run(guard, scripted(clock, (Status.ERROR, 0.0)), clock.now + 1)
    assert guard.breaker.state is BreakerState.OPEN
    assert guard.health() == {"state": "open", "failures": 3, "opened_at": 1_700_000_000.0,
                              "retry_in_s": 30.0, "in_flight": 0, "max_concurrency": 16}
    clock.now += 12
    never = scripted(clock)
    result = run(guard, never, clock.now + 1)
    assert never.calls == []
    assert (result.status, result.error) == (Status.UNAVAILABLE, "circuit open after 3 failures; retrying in 18s")
    clock.now += 17.5
    assert run(guard, never, clock.now + 1).error == "circuit open after 3 failures; retrying in 0.5s"


def test_not_found_counts_as_an_answer():
    clock = FakeClock()
    guard = make_guard(clock, retries=0, breaker_failures=2)
    for _ in range(5):
        run(guard, scripted(clock, (Status.NOT_FOUND, 0.0)), clock.now + 1)
    assert guard.breaker.state is BreakerState.CLOSED and guard.breaker.failures == 0


def test_half_open_lets_one_probe_through_and_its_success_closes():
    clock = FakeClock()
    breaker = CircuitBreaker(2, reset_s=5, clock=clock)
    breaker.record(False)
    breaker.record(False)
    assert breaker.state is BreakerState.OPEN
    clock.now += 5
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.admit() is True  # the probe
    with pytest.raises(CircuitOpen, match="a probe call is under way"):
        breaker.admit()
    breaker.record(True, probe=True)
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0 and breaker.opened_at is None
    assert breaker.admit() is False


def test_a_failed_probe_opens_again_for_a_full_reset_period():
    clock = FakeClock()
    breaker = CircuitBreaker(1, reset_s=5, clock=clock)
    breaker.record(False)
    clock.now += 6
    assert breaker.admit() is True
    breaker.record(False, probe=True)
    assert breaker.state is BreakerState.OPEN and breaker.retry_in() == 5
    with pytest.raises(CircuitOpen, match=r"circuit open after 2 failures; retrying in 5.0s"):
        breaker.admit()


def test_a_probe_that_never_ran_lets_another_probe_try():
    clock = FakeClock()
    breaker = CircuitBreaker(1, reset_s=1, clock=clock)
    breaker.record(False)
    clock.now += 1
    assert breaker.admit() is True
    breaker.release_probe()
    assert breaker.admit() is True


def test_late_answers_do_not_decide_while_open():
    clock = FakeClock()
    breaker = CircuitBreaker(1, reset_s=10, clock=clock)
    breaker.record(False)
    breaker.record(True)  # admitted before it opened, answering late
    assert breaker.state is BreakerState.OPEN
    breaker.record(False)
    assert breaker.retry_in() == 10  # a late failure does not push the reset further away


def test_guard_probe_in_half_open_through_call():
    clock = FakeClock()
    guard = make_guard(clock, retries=0, breaker_failures=1, breaker_reset_s=2)
    run(guard, scripted(clock, (Status.UNAVAILABLE, 0.0)), clock.now + 1)
    clock.now += 2
    result = run(guard, scripted(clock, (Status.OK, 0.0)), clock.now + 1)
    assert result.status is Status.OK and guard.health()["state"] == "closed"


# -- bulkhead ---------------------------------------------------------------------------


def test_bulkhead_counts_and_hands_a_freed_slot_to_the_waiter():
    bulkhead = Bulkhead(2)
    waker = threading.Event()
    assert bulkhead.try_acquire() and bulkhead.try_acquire()
    assert not bulkhead.try_acquire(waker)
    assert not bulkhead.acquire(timeout=0.01)
    bulkhead.release()
    assert waker.is_set() and bulkhead.in_use == 2  # the slot is the waiter's now
    assert not bulkhead.try_acquire()  # nobody can take it from under the waiter
    assert bulkhead.try_acquire(waker) and bulkhead.waiting == 0
    bulkhead.release()
    bulkhead.release()
    assert bulkhead.in_use == 0
    with pytest.raises(ValueError):
        bulkhead.release()


def test_bulkhead_serves_waiters_first_come_first_served():
    bulkhead = Bulkhead(1)
    assert bulkhead.try_acquire()
    first, second, third = threading.Event(), threading.Event(), threading.Event()
    for waker in (first, second, third):
        assert not bulkhead.try_acquire(waker)
    bulkhead.release()
    assert first.is_set() and not second.is_set()
    assert not bulkhead.try_acquire(third)  # a later waiter retrying does not jump the queue
    bulkhead.forget(first)  # gave up after being handed the slot: it goes to the next in line
    assert second.is_set() and not third.is_set()
    assert bulkhead.try_acquire(second)
    bulkhead.forget(third)
    bulkhead.release()
    assert bulkhead.in_use == 0 and bulkhead.waiting == 0


def test_bulkhead_never_exceeds_its_limit_under_contention():
    bulkhead = Bulkhead(3)
    active = {"now": 0, "max": 0, "done": 0}
    lock = threading.Lock()

    def worker():
        for _ in range(100):
            assert bulkhead.acquire(timeout=5)
            with lock:
                active["now"] += 1
                active["max"] = max(active["max"], active["now"])
            time.sleep(0.0005)
            with lock:
                active["now"] -= 1
                active["done"] += 1
            bulkhead.release()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert active == {"now": 0, "max": 3, "done": 1200}
    assert bulkhead.in_use == 0 and bulkhead.waiting == 0


def test_a_waiter_refused_by_the_breaker_gives_back_a_slot_handed_to_it():
    clock = FakeClock()
    guard = make_guard(clock, max_concurrency=1, breaker_failures=1)
    ticket = guard.enter()
    waker = threading.Event()
    assert guard.enter(waker) is None
    guard.breaker.record(False)  # meanwhile the breaker opens
    guard.abandon(ticket)  # the slot is handed to the waiter ...
    with pytest.raises(CircuitOpen):
        guard.enter(waker)  # ... which is refused by the breaker and must not keep it
    assert guard.bulkhead.in_use == 0 and guard.bulkhead.waiting == 0


def test_guard_call_waits_for_a_slot_until_the_deadline():
    guard = Guard("sys", "Busy system", max_concurrency=1)
    ticket = guard.enter()
    assert ticket is not None
    started = time.monotonic()
    result = guard.call(lambda left: SystemResult("sys", Status.OK), time.monotonic() + 0.1)
    assert (result.status, result.error) == (Status.UNAVAILABLE, "too many concurrent requests to Busy system")
    assert 0.09 <= time.monotonic() - started < 0.3
    threading.Timer(0.05, guard.abandon, args=(ticket,)).start()
    assert guard.call(lambda left: SystemResult("sys", Status.OK), time.monotonic() + 1).status is Status.OK


class Fake(Adapter):
    kind = "fake"
    Options = None  # type: ignore[assignment]

    def __init__(self, system_id: str, behaviour, **config) -> None:
        config = {"id": system_id, "name": system_id.capitalize(), "kind": "fake", **config}
        super().__init__(AdapterConfig(**config), None)  # type: ignore[arg-type]
        self.behaviour = behaviour
        self.active = 0
        self.most_active = 0
        self.calls = 0
        self._lock = threading.Lock()

    def fetch(self, key: str, context: LookupContext) -> Extracted:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            return self.behaviour(key, context)
        finally:
            with self._lock:
                self.active -= 1


release = threading.Event()


def hang(key, context):
    release.wait(5)
    return Extracted()


def quick(key, context):
    time.sleep(0.01)
    return Extracted(fields={"v": key})


@pytest.fixture
def pool():
    executor = make_executor(12)
    release.clear()
    yield executor
    release.set()
    executor.shutdown(wait=True, cancel_futures=True)


def test_a_hanging_system_gets_its_slots_and_no_more(pool):
    hung = Fake("hung", hang, max_concurrency=3, retries=0)
    others = [Fake(f"ok{i}", quick) for i in range(3)]
    results: list[list[SystemResult]] = []
    lock = threading.Lock()

    def one_lookup():
        got = fan_out([hung, *others], "1", deadline_s=0.3, executor=pool)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=one_lookup) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 0.6
    assert hung.most_active == 3 and hung.calls == 3  # 3 pool threads at most, of 12
    statuses = sorted(r[0].status.value for r in results)
    assert statuses == ["timeout"] * 3 + ["unavailable"] * 5
    refused = [r[0] for r in results if r[0].status is Status.UNAVAILABLE]
    assert {r.error for r in refused} == {"too many concurrent requests to Hung"}
    assert all(r.status is Status.OK for got in results for r in got[1:])  # the others unaffected

    # The pool is not exhausted: while "hung" still holds its three threads, others answer at once.
    again_started = time.monotonic()
    again = fan_out(others, "2", deadline_s=0.3, executor=pool)
    assert [r.status for r in again] == [Status.OK] * 3
    assert time.monotonic() - again_started < 0.15
    assert guard_for(hung).health()["in_flight"] == 3
    release.set()


def test_a_lookup_waits_for_a_slot_without_holding_a_pool_thread(pool):
    slow = Fake("slow", lambda k, c: (time.sleep(0.1), Extracted())[1], max_concurrency=1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(fan_out([slow], "1", deadline_s=1.0, executor=pool)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r[0].status for r in results] == [Status.OK, Status.OK]
    assert slow.most_active == 1


def test_an_open_breaker_answers_at_once_inside_fan_out(pool):
    calls = []

    def refused(key, context):
        calls.append(key)
        raise BackendUnavailable("connection refused")

    down = Fake("down", refused, breaker_failures=2, retries=0)
    for _ in range(2):
        [asked] = fan_out([down], "1", deadline_s=1.0, executor=pool)
        assert asked.attempted  # the system itself said no: news for the monitor
    started = time.monotonic()
    [result] = fan_out([down], "1", deadline_s=1.0, executor=pool)
    assert time.monotonic() - started < 0.05 and len(calls) == 2
    assert result.status is Status.UNAVAILABLE and result.error.startswith("circuit open after 2 failures")
    assert not result.attempted  # the breaker said no without asking: no news of the system


def test_guards_are_shared_by_threads_and_stay_consistent():
    guard = Guard("sys", "Shared", retries=0, breaker_failures=10_000, max_concurrency=4)
    in_flight = []
    lock = threading.Lock()
    counter = {"now": 0, "max": 0}

    def attempt(left):
        with lock:
            counter["now"] += 1
            counter["max"] = max(counter["max"], counter["now"])
        time.sleep(0.001)
        with lock:
            counter["now"] -= 1
        return SystemResult("sys", Status.ERROR if random.random() < 0.5 else Status.OK)

    def worker():
        for _ in range(50):
            in_flight.append(guard.call(attempt, time.monotonic() + 1.0).status)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(in_flight) == 800 and counter["max"] <= 4
    assert guard.bulkhead.in_use == 0 and guard.breaker.state is BreakerState.CLOSED


def test_resilience_keys_are_validated_at_load():
    base = {"id": "sys", "name": "S", "kind": "html", "url": "http://127.0.0.1:1/"}
    adapter = build_adapter(dict(base), "sys.toml")
    config = adapter.config
    assert (config.retries, config.retry_backoff_s, config.breaker_failures, config.breaker_reset_s,
            config.max_concurrency) == (1, 0.05, 5, 30.0, 16)
    for key, value in [("retries", 4), ("retries", True), ("retries", -1), ("retry_backoff_s", -0.1),
                       ("breaker_failures", 0), ("breaker_reset_s", 0), ("max_concurrency", 0),
                       ("max_concurrency", "8")]:
        with pytest.raises(ConfigError) as info:
            build_adapter({**base, key: value}, "sys.toml")
        assert (info.value.source, info.value.key) == ("sys.toml", key)


def test_registry_health_reports_every_adapter():
    clock = FakeClock()
    down = Fake("down", None, breaker_failures=1)
    fine = Fake("fine", None)
    install_guard(down, Guard.from_config(down.config, clock=clock, sleep=clock.sleep, wall_clock=lambda: 5.0))
    guard_for(down).breaker.record(False)
    registry = AdapterRegistry([down, fine])
    health = registry.health()
    assert health["down"]["state"] == "open" and health["down"]["opened_at"] == 5.0
    assert health["fine"] == {"state": "closed", "failures": 0, "opened_at": None, "retry_in_s": None,
                              "in_flight": 0, "max_concurrency": 16}
    assert registry.breaker_state("fine") == health["fine"] and registry.breaker_state("nope") is None


# -- with the simulated back office ------------------------------------------------------


def test_a_hanging_system_opens_its_breaker_and_closes_after_it_recovers(backoffice, demo_adapters_dir, tmp_path):
    for source in demo_adapters_dir.glob("*.toml"):
        shutil.copy(source, tmp_path / source.name)
    loyalty = tmp_path / "loyalty.toml"
    text = loyalty.read_text(encoding="utf-8")
    assert "timeout_s = 2.0\n" in text
    loyalty.write_text(text.replace(
        "timeout_s = 2.0\n", "timeout_s = 0.3\nretries = 0\nbreaker_failures = 2\nbreaker_reset_s = 0.5\n"),
        encoding="utf-8")
    loaded = load_adapter_dir(tmp_path)
    assert loaded.ok, loaded.errors
    adapters = list(loaded.registry)
    pool = make_executor(32)
    try:
        def lookup() -> dict[str, SystemResult]:
            return {r.system_id: r for r in fan_out(adapters, "13800000000", deadline_s=3.0, executor=pool)}

        assert all(r.status is Status.OK for r in lookup().values())
        backoffice.hang("loyalty")
        for _ in range(2):
            results = lookup()
            assert results["loyalty"].status is Status.TIMEOUT
        assert loaded.registry.health()["loyalty"]["state"] == "open"

        started = time.monotonic()
        results = lookup()
        assert results["loyalty"].status is Status.UNAVAILABLE
        assert results["loyalty"].error.startswith("circuit open after 2 failures; retrying in ")
        assert results["loyalty"].elapsed_ms < 50
        assert time.monotonic() - started < 1.0  # not held up by the hanging system
        others = {k: r for k, r in results.items() if k != "loyalty"}
        assert len(others) == 11 and all(r.status is Status.OK for r in others.values()), others

        backoffice.hang("loyalty", False)
        time.sleep(0.55)
        assert loaded.registry.health()["loyalty"]["state"] == "half_open"
        results = lookup()
        assert results["loyalty"].status is Status.OK, results["loyalty"]
        assert loaded.registry.health()["loyalty"] == {
            "state": "closed", "failures": 0, "opened_at": None, "retry_in_s": None,
            "in_flight": 0, "max_concurrency": 16}
    finally:
        backoffice.hang("loyalty", False)
        pool.shutdown(wait=False, cancel_futures=True)
        loaded.registry.close()
