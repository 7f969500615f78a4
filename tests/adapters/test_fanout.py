"""fan_out with fake adapters: one deadline, order kept, never raises."""

from __future__ import annotations

import threading
import time

import pytest

from portal.adapters.base import Adapter, Extracted, LookupContext, Status, SystemResult
from portal.adapters.config import AdapterConfig
from portal.adapters.fanout import THREAD_NAME_PREFIX, fan_out, make_executor
from portal.errors import BackendNotFound, BackendTimeout


class Fake(Adapter):
    kind = "fake"
    Options = None  # type: ignore[assignment]

    def __init__(self, system_id: str, behaviour, timeout_s: float = 5.0, **config) -> None:
        config = {"id": system_id, "name": system_id, "kind": "fake", "timeout_s": timeout_s, **config}
        super().__init__(AdapterConfig(**config), None)  # type: ignore[arg-type]
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

    once = Fake("short", respects_deadline, timeout_s=0.1, retries=0)
    results = fan_out([once], "1", deadline_s=2.0, executor=executor)
    assert results[0].status is Status.TIMEOUT
    assert results[0].error == "no answer within 0.1 s"
    assert len(once.calls) == 1

    # With the default retry, a timeout is tried again because a whole second try fits in the deadline.
    twice = Fake("short2", respects_deadline, timeout_s=0.1)
    [result] = fan_out([twice], "1", deadline_s=2.0, executor=executor)
    assert (result.status, result.error) == (Status.TIMEOUT, "no answer within 0.1 s (after 2 attempts)")
    assert len(twice.calls) == 2 and result.elapsed_ms >= 200


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


# -- key chaining ------------------------------------------------------------------------


def account(key, context):
    return Extracted(fields={"account_id": f"ACC-{key}", "empty": ""})


def echo(key, context):
    return Extracted(fields={"asked": key})


def test_chained_adapter_gets_the_upstream_field_as_its_key(executor):
    boss = Fake("boss", account, name="BOSS billing & CRM", fields={"account_id": {"path": "a"}, "empty": {"path": "e"}})
    loyalty = Fake("loyalty", echo, key="{boss.account_id}")
    mixed = Fake("mixed", echo, key="{customer}/{boss.account_id}")
    plain = Fake("plain", echo)
    results = fan_out([loyalty, mixed, plain, boss], "13800000000", deadline_s=2.0, executor=executor)
    assert [r.system_id for r in results] == ["loyalty", "mixed", "plain", "boss"]  # the caller's order
    assert all(r.status is Status.OK for r in results), results
    assert results[0].fields == {"asked": "ACC-13800000000"}
    assert results[1].fields == {"asked": "13800000000/ACC-13800000000"}
    assert results[2].fields == {"asked": "13800000000"}


def test_a_dependent_starts_when_its_own_upstream_answers_not_the_slowest(executor):
    def fast_account(key, context):
        return Extracted(fields={"account_id": "A1"})

    started_at = {}

    def note(key, context):
        started_at["dependent"] = time.monotonic()
        return Extracted(fields={"asked": key})

    boss = Fake("boss", fast_account, fields={"account_id": {"path": "a"}})
    slow = Fake("slow", sleepy(0.3))
    dependent = Fake("dep", note, key="{boss.account_id}")
    began = time.monotonic()
    results = fan_out([slow, dependent, boss], "1", deadline_s=2.0, executor=executor)
    assert [r.status for r in results] == [Status.OK] * 3
    assert started_at["dependent"] - began < 0.2  # did not wait for "slow", which is in wave 0 too


def test_upstream_failure_or_missing_field_is_a_clear_error_not_a_crash(executor):
    def timing_out(key, context):
        raise BackendTimeout("no answer within 2.0 s")

    boss = Fake("boss", timing_out, name="BOSS billing & CRM", retries=0, fields={"account_id": {"path": "a"}})
    needs_boss = Fake("loyalty", echo, key="{boss.account_id}")
    crm = Fake("crm", account, name="CRM", fields={"account_id": {"path": "a"}, "empty": {"path": "e"}})
    needs_empty = Fake("mail", echo, key="{crm.empty}")
    nf = Fake("nf", unknown, name="Directory", fields={"id": {"path": "i"}})
    needs_nf = Fake("rbt", echo, key="{nf.id}")
    results = fan_out([needs_boss, boss, needs_empty, crm, needs_nf, nf], "1", deadline_s=2.0, executor=executor)
    by_id = {r.system_id: r for r in results}
    assert by_id["loyalty"].status is Status.ERROR
    assert by_id["loyalty"].error == "needs boss.account_id: BOSS billing & CRM did not answer (timeout)"
    assert by_id["mail"].error == "needs crm.empty: CRM answered without empty"
    assert by_id["rbt"].error == "needs nf.id: Directory does not know this customer (not_found)"
    assert needs_boss.calls == [] and needs_empty.calls == [] and needs_nf.calls == []


def test_upstream_hidden_from_the_operator_is_not_queried_on_their_behalf(executor):
    loyalty = Fake("loyalty", echo, key="{boss.account_id}")
    [result] = fan_out([loyalty], "1", deadline_s=1.0, executor=executor)
    assert (result.status, result.error) == (Status.ERROR, "needs boss.account_id: boss is not queried in this lookup")
    assert loyalty.calls == []


def test_later_waves_share_the_one_deadline(executor):
    boss = Fake("boss", lambda k, c: (time.sleep(0.2), Extracted(fields={"account_id": "A"}))[1],
                fields={"account_id": {"path": "a"}})
    seen_budget = []

    def slow_dependent(key, context):
        seen_budget.append(context.budget)
        time.sleep(min(context.remaining(), 1.0))
        context.remaining()
        return Extracted()

    dependent = Fake("dep", slow_dependent, key="{boss.account_id}", retries=0)
    started = time.monotonic()
    results = fan_out([boss, dependent], "1", deadline_s=0.35, executor=executor)
    took = time.monotonic() - started
    assert results[0].status is Status.OK and results[1].status is Status.TIMEOUT
    assert seen_budget[0] < 0.2  # only what the upstream left of the 0.35 s
    assert took < 0.5


def test_upstream_still_running_at_the_deadline(executor):
    boss = Fake("boss", hang, name="BOSS", fields={"account_id": {"path": "a"}})
    dependent = Fake("dep", echo, key="{boss.account_id}")
    results = fan_out([dependent, boss], "1", deadline_s=0.2, executor=executor)
    assert [r.status for r in results] == [Status.ERROR, Status.TIMEOUT]
    assert results[0].error == "needs boss.account_id: BOSS did not answer (timeout)"


def test_unchecked_cycles_cost_their_panels_only(executor):
    # The registry rejects cycles at load time; fan_out must still not hang on documents built elsewhere.
    a = Fake("aaa", echo, key="{bbb.asked}", fields={"asked": {"path": "x"}})
    b = Fake("bbb", echo, key="{aaa.asked}", fields={"asked": {"path": "x"}})
    c = Fake("ccc", echo)
    results = fan_out([a, b, c], "1", deadline_s=1.0, executor=executor)
    assert [r.status for r in results] == [Status.ERROR, Status.ERROR, Status.OK]
    assert results[0].error == "key chain forms a cycle: aaa -> bbb -> aaa"
