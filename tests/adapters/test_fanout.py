"""fan_out with fake adapters: one deadline, order kept, never raises."""

from __future__ import annotations

import threading
import time

import pytest

from portal.adapters.base import Adapter, Extracted, LookupContext, Status, SystemResult
from portal.adapters.config import AdapterConfig
from portal.adapters.fanout import THREAD_NAME_PREFIX, fan_out, make_executor
from portal.errors import BackendNotFound


class Fake(Adapter):
    kind = "fake"
    Options = None  # type: ignore[assignment]

    def __init__(self, system_id: str, behaviour, timeout_s: float = 5.0) -> None:
        super().__init__(AdapterConfig(id=system_id, name=system_id, kind="fake", timeout_s=timeout_s), None)  # type: ignore[arg-type]
        self.behaviour = behaviour
        self.calls: list[tuple[str, LookupContext]] = []

    def fetch(self, key: str, context: LookupContext) -> Extracted:
        self.calls.append((key, context))
        return self.behaviour(key, context)


@pytest.fixture
def executor():
    pool = make_executor(8)
    yield pool
    release.set()
    pool.shutdown(wait=True, cancel_futures=True)
    release.clear()


release = threading.Event()


def ok(value):
    return lambda key, context: Extracted(fields={"value": value})


def hang(key, context):
    release.wait(10)
    return Extracted(fields={"late": "yes"})


def sleepy(seconds):
    def run(key, context):
        time.sleep(seconds)
        return Extracted(fields={"slept": str(seconds)})

    return run


def boom(key, context):
    raise RuntimeError("bug in a kind")


def unknown(key, context):
    raise BackendNotFound("customer not known to this system")


def test_results_keep_the_order_of_the_adapters(executor):
    adapters = [Fake("slow", sleepy(0.1)), Fake("fast", ok("1")), Fake("mid", sleepy(0.05))]
    results = fan_out(adapters, "13800000000", deadline_s=2.0, executor=executor)
    assert [r.system_id for r in results] == ["slow", "fast", "mid"]
    assert all(r.status is Status.OK for r in results)
    assert results[1].fields == {"value": "1"}


def test_runs_in_parallel_under_one_deadline(executor):
    adapters = [Fake(f"s{i}", sleepy(0.2)) for i in range(6)]
    started = time.monotonic()
    results = fan_out(adapters, "1", deadline_s=2.0, executor=executor)
    assert all(r.status is Status.OK for r in results)
    assert time.monotonic() - started < 0.6  # one after another would take 1.2 s


def test_a_hanging_adapter_becomes_a_timeout_within_the_deadline(executor):
    adapters = [Fake("good", ok("x")), Fake("hung", hang), Fake("also_good", ok("y"))]
    started = time.monotonic()
    results = fan_out(adapters, "1", deadline_s=0.3, executor=executor)
    took = time.monotonic() - started
    assert took < 0.5
    assert [r.status for r in results] == [Status.OK, Status.TIMEOUT, Status.OK]
    hung = results[1]
    assert (hung.system_id, hung.error, hung.elapsed_ms) == ("hung", "no answer within 0.3 s", 300)


def test_raising_and_not_found_adapters_cost_only_their_panel(executor):
    results = fan_out([Fake("bad", boom), Fake("nf", unknown), Fake("ok", ok("1"))], "1", deadline_s=1, executor=executor)
    assert [r.status for r in results] == [Status.ERROR, Status.NOT_FOUND, Status.OK]
    assert results[0].error == "unexpected adapter failure (logged)"


def test_lookup_gets_the_deadline_and_correlation_id(executor):
    fake = Fake("sys_a", ok("1"), timeout_s=5.0)
    fan_out([fake], "13800000000", deadline_s=0.5, executor=executor, correlation_id="corr-9")
    key, context = fake.calls[0]
    assert key == "13800000000"
    assert context.correlation_id == "corr-9"
    assert context.budget is not None and context.budget <= 0.5


def test_adapter_timeout_shorter_than_the_deadline_wins(executor):
    def respects_deadline(key, context):
        time.sleep(min(context.remaining(), 5))
        context.remaining()  # raises BackendTimeout once the budget is spent
        return Extracted()

    results = fan_out([Fake("short", respects_deadline, timeout_s=0.1)], "1", deadline_s=2.0, executor=executor)
    assert results[0].status is Status.TIMEOUT
    assert results[0].error == "no answer within 0.1 s"


def test_queued_lookups_past_the_deadline_are_skipped():
    pool = make_executor(1)
    try:
        blocker = Fake("blocker", hang)
        queued = Fake("queued", ok("never"))
        results = fan_out([blocker, queued], "1", deadline_s=0.2, executor=pool)
        assert [r.status for r in results] == [Status.TIMEOUT, Status.TIMEOUT]
        release.set()
        time.sleep(0.05)
        assert queued.calls == []  # cancelled before it started: no pointless call to the system
    finally:
        release.set()
        pool.shutdown(wait=True)
        release.clear()


def test_never_raises_even_with_a_dead_pool():
    pool = make_executor(1)
    pool.shutdown()
    results = fan_out([Fake("sys_a", ok("1"))], "1", deadline_s=0.5, executor=pool)
    assert results == [SystemResult("sys_a", Status.ERROR, error="lookup could not be started")]


def test_empty_list_and_thread_names(executor):
    assert fan_out([], "1", deadline_s=0.1, executor=executor) == []
    names = []
    fan_out([Fake("named", lambda k, c: names.append(threading.current_thread().name) or Extracted())], "1",
            deadline_s=1, executor=executor)
    assert names[0].startswith(THREAD_NAME_PREFIX)
