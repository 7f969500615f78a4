"""Every injected fault against the real adapters (config/adapters/*.toml): one panel status, never a crash.

One system per kind (html: loyalty, and complaints for its login; xml: vas; soap:
boss; socket: smsc, plus mms and mail for the faults that depend on framing) is
hit by each fault of :data:`portal.demo.faults.FAULTS`, and the lookup must end in
a :class:`SystemResult` with the expected status, a short message for people,
within its timeout, without /etc/passwd anywhere, without leaking threads and,
for the huge answers, without holding them in memory.

A case an adapter kind gets wrong is marked ``xfail(strict=True)`` with the
exact misbehaviour: the adapters are another team's code, and the mark turns
into a failure (XPASS) the day they fix it, so it cannot go stale.
"""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from portal.adapters import soap
from portal.adapters.base import Status, SystemResult
from portal.adapters.registry import load_adapter_dir
from portal.demo import data
from portal.demo.faults import FAULTS

pytestmark = pytest.mark.backoffice

KNOWN = "13800000000"
TIMEOUT = 1.5
SLACK_S = 0.5
MEMORY_LIMIT = 50_000_000
ERROR_LIMIT = 300

OK, ERROR, TIMEOUT_, UNAVAILABLE = Status.OK, Status.ERROR, Status.TIMEOUT, Status.UNAVAILABLE
ONE_PER_KIND = ["loyalty", "vas", "boss", "smsc"]
FRAMED = ["mms", "mail"]  # length-prefixed and fixed-width: for the faults whose bytes depend on framing


@dataclass(frozen=True)
class Case:
    fault: str
    system: str
    expect: frozenset[Status]
    params: dict[str, Any] = field(default_factory=dict)
    times: int | None = None
    check: Callable[[SystemResult], None] | None = None
    bug: str | None = None  # the adapter misbehaviour, when there is one
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.fault}-{self.system}{'-' + self.label if self.label else ''}"

    @property
    def measures_memory(self) -> bool:
        return self.fault in ("oversized", "xml_bomb")


def mms_mojibake(result: SystemResult) -> None:
    """UTF-8 bytes read as GBK: the frame and the ASCII fields survive, the Chinese ones are mojibake."""
    truth = data.mms(KNOWN)
    garbled = {name: value.encode("utf-8").decode("gbk", "replace")
               for name, value in (("name", truth.name), ("last_subject", truth.last_subject))}
    assert result.fields == {"name": garbled["name"], "sent": str(truth.sent), "received": str(truth.received),
                             "last_subject": garbled["last_subject"], "storage_kb": str(truth.storage_kb),
                             "status": truth.status}
    assert result.fields["name"] != truth.name


def complaints_after_login(result: SystemResult) -> None:
    assert result.fields["customer_name"] == data.complaints(KNOWN).name


def case(fault: str, system: str, *expect: Status, **kwargs: Any) -> Case:
    return Case(fault, system, frozenset(expect), **kwargs)


CASES: list[Case] = [
    *(case("latency", s, TIMEOUT_, params={"seconds": 3 * TIMEOUT}) for s in ONE_PER_KIND),
    *(case("http_error", s, ERROR) for s in (*ONE_PER_KIND, "mms", "mail")),
    *(case("garbage", s, ERROR) for s in (*ONE_PER_KIND, "mms", "mail")),
    *(case("hang", s, TIMEOUT_) for s in ONE_PER_KIND),
    *(case("reset", s, ERROR, UNAVAILABLE) for s in ONE_PER_KIND),
    *(case("oversized", s, ERROR) for s in (*ONE_PER_KIND, "mms", "mail")),
    case("oversized", "loyalty", ERROR, params={"declared": False}, label="undeclared"),
    case("oversized", "vas", ERROR, params={"declared": False}, label="undeclared"),
    *(case("xml_bomb", s, ERROR) for s in ONE_PER_KIND),
    *(case("xxe", s, ERROR) for s in ONE_PER_KIND),
    *(case("wrong_charset", s, ERROR) for s in (*ONE_PER_KIND, "mail")),
    # mms: GBK declared, UTF-8 sent; the frame is intact, so ok with mojibake is the honest outcome.
    case("wrong_charset", "mms", OK, check=mms_mojibake),
    *(case("login_page", s, ERROR) for s in ONE_PER_KIND),
    case("login_page", "complaints", OK, times=1, check=complaints_after_login, label="once"),
    case("login_page", "complaints", ERROR, label="always"),
]


def _param(c: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=c.bug)] if c.bug else []
    return pytest.param(c, id=c.id, marks=marks)


@pytest.fixture(scope="module")
def wsdl_cache():
    """zeep clients are cached per process (WSDLs parsed once): forget them after this module."""
    yield
    soap.clear_client_cache()


@pytest.fixture
def registry(wsdl_cache, demo_adapters_dir):
    """Fresh adapters for every case (a few ms): no pooled connection, session or breaker state carries over."""
    loaded = load_adapter_dir(demo_adapters_dir)
    assert loaded.errors == [], [e.detail for e in loaded.errors]
    yield loaded.registry
    loaded.registry.close()


@pytest.fixture(scope="module")
def secrets() -> list[str]:
    """Lines of /etc/passwd (what an XXE would leak) that could not appear in a result by chance."""
    try:
        lines = Path("/etc/passwd").read_text("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    return [line for line in lines if len(line) > 12] + ["root:x:0:0"]


def settled_threads(baseline: int, timeout: float = 3.0) -> int:
    deadline = time.monotonic() + timeout
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return threading.active_count()


def test_every_fault_is_in_the_matrix():
    assert {c.fault for c in CASES} == set(FAULTS)
    for fault in FAULTS:
        assert {"loyalty", "vas", "boss", "smsc"} <= {c.system for c in CASES if c.fault == fault}, fault


@pytest.mark.parametrize("c", [_param(c) for c in CASES])
def test_fault(backoffice, registry, secrets, c: Case):
    adapter = registry[c.system]
    warm = adapter.lookup(KNOWN, timeout=TIMEOUT)  # WSDL cached, complaints signed in, a pooled connection
    assert warm.status is OK, warm.error
    baseline = threading.active_count()
    backoffice.inject(c.system, c.fault, times=c.times, **c.params)

    if c.measures_memory:
        tracemalloc.start()
    started = time.monotonic()
    try:
        result = adapter.lookup(KNOWN, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    finally:
        peak = tracemalloc.get_traced_memory()[1] if c.measures_memory else 0
        tracemalloc.stop()
        backoffice.clear_faults()

    assert isinstance(result, SystemResult) and result.system_id == c.system
    shown = {"status": result.status.value, "error": result.error, "fields": result.fields}
    assert result.status in c.expect, shown
    if result.status is OK:
        assert result.error is None
    else:
        assert isinstance(result.error, str) and 0 < len(result.error) < ERROR_LIMIT, result.error
        assert "Traceback" not in result.error and "\n" not in result.error, result.error
    if c.check:
        c.check(result)
    assert elapsed <= TIMEOUT + SLACK_S, f"took {elapsed:.2f} s"
    everything = json.dumps(result.to_dict(), ensure_ascii=False) + repr(result)  # repr: fields to_dict omits
    assert not [line for line in secrets if line in everything], "contents of /etc/passwd in the result"
    assert peak < MEMORY_LIMIT, f"peak {peak / 1e6:.1f} MB traced"
    assert settled_threads(baseline) <= baseline, f"{threading.active_count()} threads, {baseline} before"
    assert adapter.lookup(KNOWN, timeout=TIMEOUT).status is OK  # and the next lookup is fine again
