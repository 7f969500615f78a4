"""Every kind against the simulated back office over loopback, using the real config/adapters/*.toml.

The same scenarios run for all twelve systems (three per kind), in the spirit of
a shared connector test suite: ok, not_found, unavailable, timeout.
"""

from __future__ import annotations

import logging
import time

import pytest

from portal.adapters import soap
from portal.adapters.base import Status
from portal.adapters.fanout import fan_out, make_executor
from portal.adapters.registry import AdapterRegistry, load_adapter_dir

pytestmark = pytest.mark.backoffice

KNOWN = "13800000000"  # known to all twelve systems, with non-empty lists
UNKNOWN = "13900000000"  # outside the demo's customer range
SYSTEMS = ["boss", "payments", "roaming", "vas", "portability", "wap",
           "loyalty", "complaints", "rbt", "smsc", "mms", "mail"]  # fmt: skip
ONE_PER_KIND = ["boss", "vas", "complaints", "mms"]


@pytest.fixture(scope="module")
def registry(demo_adapters_dir):
    loaded = load_adapter_dir(demo_adapters_dir)
    assert loaded.errors == [], [e.detail for e in loaded.errors]
    yield loaded.registry
    loaded.registry.close()
    soap.clear_client_cache()


@pytest.fixture
def executor():
    pool = make_executor(16)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def test_all_twelve_files_load(registry: AdapterRegistry):
    assert sorted(registry.ids()) == sorted(SYSTEMS)
    kinds = {a.id: a.config.kind for a in registry}
    for kind in ("soap", "xml", "html", "socket"):
        assert sum(1 for k in kinds.values() if k == kind) == 3


@pytest.mark.parametrize("system_id", SYSTEMS)
def test_known_customer_is_ok_with_values(backoffice, registry, system_id):
    adapter = registry[system_id]
    result = adapter.lookup(KNOWN)
    assert result.status is Status.OK, result.error
    assert result.error is None
    missing = [name for name, value in result.fields.items() if value is None]
    assert missing == [], f"{system_id}: fields whose path matched nothing: {missing}"
    assert any(result.fields.values()), f"{system_id}: every field is empty"
    for name in adapter.config.tables:
        rows = result.tables[name]
        assert rows, f"{system_id}: table {name} is empty"
        assert all(any(v for v in row.values()) for row in rows)
    assert set(result.fields) == set(adapter.config.fields)


@pytest.mark.parametrize("system_id", SYSTEMS)
def test_unknown_customer_is_not_found(backoffice, registry, system_id):
    result = registry[system_id].lookup(UNKNOWN)
    assert result.status is Status.NOT_FOUND, result.error
    assert result.fields == {} and result.tables == {}


@pytest.mark.parametrize("system_id", SYSTEMS)
def test_stopped_system_is_unavailable(backoffice, registry, system_id):
    adapter = registry[system_id]
    assert adapter.lookup(KNOWN).status is Status.OK  # a pooled connection (and a SOAP client) exist
    backoffice.stop_system(system_id)
    result = adapter.lookup(KNOWN)
    assert result.status is Status.UNAVAILABLE, result.error
    assert result.error == "connection refused"
    backoffice.start_system(system_id)
    assert adapter.lookup(KNOWN).status is Status.OK  # and it recovers on its own


@pytest.mark.parametrize("system_id", SYSTEMS)
def test_hanging_system_times_out_within_the_budget(backoffice, registry, system_id):
    adapter = registry[system_id]
    assert adapter.lookup(KNOWN).status is Status.OK  # warm: the SOAP client is built
    backoffice.hang(system_id)
    started = time.monotonic()
    result = adapter.lookup(KNOWN, timeout=0.4)
    took = time.monotonic() - started
    assert (result.status, result.error) == (Status.TIMEOUT, "no answer within 0.4 s")
    assert took < 0.4 + 0.25


@pytest.mark.parametrize("system_id", ONE_PER_KIND)
def test_hang_is_bounded_by_the_adapters_own_timeout(backoffice, registry, system_id):
    adapter = registry[system_id]
    adapter.lookup(KNOWN)
    backoffice.hang(system_id)
    started = time.monotonic()
    result = adapter.lookup(KNOWN)  # no lookup deadline: timeout_s from the TOML file
    took = time.monotonic() - started
    assert result.status is Status.TIMEOUT
    assert adapter.config.timeout_s - 0.05 <= took < adapter.config.timeout_s + 0.3


def test_soap_system_down_at_first_lookup_gets_its_wsdl_read_later(backoffice, registry):
    """A system that is down when the portal starts gets its WSDL read once it is back."""
    soap.clear_client_cache()
    backoffice.stop_system("roaming")
    assert registry["roaming"].lookup(KNOWN).status is Status.UNAVAILABLE
    backoffice.start_system("roaming")
    assert registry["roaming"].lookup(UNKNOWN).status is Status.NOT_FOUND


def test_complaints_logs_in_and_logs_in_again_after_the_system_forgets(backoffice, registry, caplog):
    adapter = registry["complaints"]
    backoffice.stop_system("complaints")  # a fresh start: no session on either side
    backoffice.start_system("complaints")
    with caplog.at_level(logging.INFO, logger="portal.adapters.html"):
        first = adapter.lookup(KNOWN)
        second = adapter.lookup(KNOWN)
        backoffice.stop_system("complaints")  # sessions live in memory: a restart forgets them
        backoffice.start_system("complaints")
        third = adapter.lookup(KNOWN)
    assert [r.status for r in (first, second, third)] == [Status.OK] * 3, [first.error, second.error, third.error]
    assert first.fields["customer_name"] and first.tables["tickets"]
    logins = [r for r in caplog.records if "logged in" in r.getMessage()]
    assert len(logins) == 2  # once at first, not for the second lookup, once after the restart


def test_complaints_without_credentials(backoffice, registry, monkeypatch):
    monkeypatch.delenv("PORTAL_CRED_COMPLAINTS_PASSWORD")
    backoffice.stop_system("complaints")  # forget the session the other tests made
    backoffice.start_system("complaints")
    result = registry["complaints"].lookup(KNOWN)
    assert (result.status, result.error) == (Status.ERROR, "credentials PORTAL_CRED_COMPLAINTS_* not set")


def test_fan_out_over_all_twelve_in_parallel(backoffice, registry, executor):
    for system_id in SYSTEMS:
        backoffice.set_latency(system_id, 0.2)
    adapters = registry.enabled()
    fan_out(adapters, KNOWN, deadline_s=3.0, executor=executor)  # warm pools and SOAP clients
    started = time.monotonic()
    results = fan_out(adapters, KNOWN, deadline_s=3.0, executor=executor, correlation_id="it-1")
    took = time.monotonic() - started
    assert [r.system_id for r in results] == [a.id for a in adapters]
    assert all(r.status is Status.OK for r in results), {r.system_id: r.error for r in results}
    assert took < 0.2 * 3  # one after another would take 12 x 0.2 s


def test_one_slow_system_costs_only_its_panel(backoffice, registry, executor):
    adapters = registry.enabled()
    fan_out(adapters, KNOWN, deadline_s=3.0, executor=executor)
    backoffice.hang("rbt")
    backoffice.stop_system("mail")
    started = time.monotonic()
    results = {r.system_id: r for r in fan_out(adapters, KNOWN, deadline_s=0.6, executor=executor)}
    assert time.monotonic() - started < 0.9
    assert results["rbt"].status is Status.TIMEOUT
    assert results["mail"].status is Status.UNAVAILABLE
    others = [r for sid, r in results.items() if sid not in ("rbt", "mail")]
    assert all(r.status is Status.OK for r in others), {r.system_id: r.error for r in others}
