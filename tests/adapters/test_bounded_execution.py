"""Owner-supplied regular expressions run within a time budget (issue 11, item 5).

A catastrophic pattern (``(a|aa)+$`` against a long run of ``a``) costs only its
own panel, within the adapter's timeout, and other requests of the process keep
being answered while it runs.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from portal.adapters.base import Status
from portal.adapters.boundary import UNRESTRICTED, Boundary
from portal.adapters.registry import build_adapter
from portal.errors import ConfigError
from tests.adapters.conftest import recv_until

CATASTROPHIC = r"(a|aa)+$"
ANSWER = "OK " + "a" * 64 + "b\n"  # no match, found the slow way
# Unbounded, the pattern would run for hours on ANSWER; what the tests prove is that it stops at its budget.
# The margin is for a loaded machine (parallel test workers), not a performance claim.
MARGIN_S = 1.5


def answer_with(text: str):
    def handler(conn: socket.socket) -> None:
        recv_until(conn, b"\n")
        conn.sendall(text.encode())

    return handler


def socket_document(port: int, **changes) -> dict:
    document = {
        "id": "slowre", "name": "Slow patterns", "kind": "socket", "owner": "messaging-team",
        "host": "127.0.0.1", "port": port, "request": "Q {customer}", "timeout_s": 2.0,
        "parse": "regex", "pattern": r"^OK (?P<plan>\w+)", "fields": {"plan": {"path": "plan"}},
    }
    document.update(changes)
    return document


@pytest.fixture
def slow_answer(tcp):
    return tcp(answer_with(ANSWER))


@pytest.fixture
def build():
    built = []

    def make(document: dict, boundary: Boundary = UNRESTRICTED):
        adapter = build_adapter(document, "adapter slowre", boundary)
        built.append(adapter)
        return adapter

    yield make
    for adapter in built:
        adapter.close()


COSTLY = {
    "pattern": {"pattern": r"^OK (?P<plan>(a|aa)+)$"},
    "not_found": {"not_found": CATASTROPHIC},
    "expect": {"expect": CATASTROPHIC},
    "tables.runs.path": {
        "parse": "kv", "pattern": None, "fields": {},
        "tables": {"runs": {"path": r"(?P<run>(a|aa)+)$", "columns": {"run": "run"}}},
    },
}


@pytest.mark.parametrize("key", list(COSTLY))
def test_a_catastrophic_pattern_costs_only_its_panel(slow_answer, build, key):
    adapter = build(socket_document(slow_answer.port, **COSTLY[key]))
    started = time.monotonic()
    result = adapter.lookup("13800000000")
    took = time.monotonic() - started
    assert result.status is Status.ERROR
    assert result.error == f"{key} took longer than 0.25 s; the adapter's regular expression is too costly"
    assert took < 0.25 + MARGIN_S


def test_the_budget_comes_from_the_boundary(slow_answer, build):
    adapter = build(socket_document(slow_answer.port, expect=CATASTROPHIC), Boundary(regex_budget_s=0.05))
    started = time.monotonic()
    result = adapter.lookup("13800000000")
    assert result.error == "expect took longer than 0.05 s; the adapter's regular expression is too costly"
    assert time.monotonic() - started < 0.05 + MARGIN_S


def test_the_adapters_timeout_holds_even_with_a_larger_budget(slow_answer, build):
    adapter = build(socket_document(slow_answer.port, expect=CATASTROPHIC, timeout_s=0.4), Boundary(regex_budget_s=3))
    started = time.monotonic()
    result = adapter.lookup("13800000000")
    took = time.monotonic() - started
    assert result.status is Status.TIMEOUT, result.error
    assert result.error.startswith("no answer within 0.4 s: expect was still matching")
    assert took < 0.4 + MARGIN_S


def test_a_caller_deadline_shorter_than_the_budget_is_honoured(slow_answer, build):
    adapter = build(socket_document(slow_answer.port, expect=CATASTROPHIC), Boundary(regex_budget_s=3))
    started = time.monotonic()
    assert adapter.lookup("13800000000", timeout=0.3).status is Status.TIMEOUT
    assert time.monotonic() - started < 0.3 + MARGIN_S


def test_cheap_patterns_still_read_the_answer(tcp, build):
    server = tcp(answer_with("OK Gold88 r=1 r=2\n"))
    adapter = build(socket_document(
        server.port, expect="^OK", not_found="^ERR",
        tables={"rs": {"path": r"r=(?P<n>\d)", "columns": {"n": "n"}}},
    ))
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert result.fields == {"plan": "Gold88"} and result.tables == {"rs": [{"n": "1"}, {"n": "2"}]}


def test_other_threads_run_while_a_pattern_is_matching(slow_answer, build, client):
    """The GIL is released while matching: /healthz answers at once during a 1.5 s match."""
    adapter = build(socket_document(slow_answer.port, expect=CATASTROPHIC, timeout_s=3), Boundary(regex_budget_s=1.5))
    client.get("/healthz")  # warm: the first request of an app does one-off work
    results = []
    worker = threading.Thread(target=lambda: results.append(adapter.lookup("13800000000")))
    worker.start()
    time.sleep(0.3)  # connected, answered, now matching
    slowest = 0.0
    for _ in range(5):
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.05)
    still_matching = worker.is_alive()
    worker.join()
    assert still_matching, "the match ended before /healthz was asked: the test proves nothing"
    assert slowest < 0.2, f"/healthz took {slowest:.2f} s while an adapter's pattern was matching"
    assert results[0].error == "expect took longer than 1.5 s; the adapter's regular expression is too costly"


@pytest.mark.parametrize("change, key, reason", [
    ({"pattern": "(?P<plan"}, "pattern", "invalid regular expression"),
    ({"not_found": "[unclosed"}, "not_found", "invalid regular expression"),
    ({"expect": "a{2,1}"}, "expect", "invalid regular expression"),
    ({"tables": {"t": {"path": "(x", "columns": {"c": "c"}}}}, "tables.t.path", "invalid regular expression"),
    ({"tables": {"t": {"path": "(?P<x>a)", "columns": {"c": "y"}}}}, "tables.t.columns.c", "no group named 'y'"),
    ({"fields": {"plan": {"path": "tier"}}}, "fields.plan.path", "no group named 'tier'"),
])
def test_patterns_are_compiled_when_the_document_loads(change, key, reason):
    with pytest.raises(ConfigError) as info:
        build_adapter(socket_document(1, **change), "adapter slowre")
    assert info.value.key == key and reason in info.value.reason


def test_the_budget_is_a_setting_the_apps_boundary_carries(settings_overrides):
    from portal import create_app
    from tests.conftest import close_app

    app = create_app({**settings_overrides, "adapters_regex_budget_s": 0.4})
    try:
        boundary = app.extensions["portal.boundary"]
        assert boundary.guarded and boundary.regex_budget_s == 0.4
        smsc = app.extensions["portal.catalog"].file_adapters["smsc"]
        assert smsc.boundary.regex_budget_s == 0.4 and smsc._expect.budget_s == 0.4
    finally:
        close_app(app)


@pytest.mark.parametrize("value", [0, -1, 5.5, "soon"])
def test_the_budget_setting_is_validated(value):
    from portal.config import load_settings

    with pytest.raises(ConfigError) as info:
        load_settings({"adapters_regex_budget_s": value}, environ={})
    assert info.value.key == "adapters_regex_budget_s"
