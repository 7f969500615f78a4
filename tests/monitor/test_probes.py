"""Probes against the real simulated back office and a bare local socket: never raise, say why."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from portal.adapters.boundary import UNRESTRICTED
from portal.monitor.probes import run_probe, wsdl_problem


class Addressed:
    """The smallest adapter the connect and wsdl probes need."""

    id = "bare"
    boundary = UNRESTRICTED  # built outside the portal: no egress policy
    config = SimpleNamespace(owner=None)

    def __init__(self, address=None, url=None):
        self._address, self._url = address, url

    def address(self):
        return self._address

    def service_description_url(self):
        return self._url


def test_connect_probe_to_a_listening_socket_is_up_with_latency(tcp_server):
    seen = run_probe(Addressed(address=tcp_server), "connect", 1.0)
    assert seen.ok and seen.status == "ok" and seen.source == "connect"
    assert seen.latency_ms is not None and seen.latency_ms >= 0 and seen.at.tzinfo is not None


def test_connect_probe_to_a_closed_port_says_refused(unused_port):
    seen = run_probe(Addressed(address=("127.0.0.1", unused_port)), "connect", 1.0)
    assert not seen.ok and seen.status == "unavailable" and seen.error == "connection refused"


def test_probe_none_observes_nothing_and_missing_address_is_a_plain_failure():
    assert run_probe(Addressed(), "none", 1.0) is None
    seen = run_probe(Addressed(), "connect", 1.0)
    assert not seen.ok and "no address" in seen.error
    assert "no service description" in run_probe(Addressed(), "wsdl", 1.0).error


def test_a_bug_in_an_adapter_is_a_failed_observation_not_an_exception():
    class Broken(Addressed):
        def address(self):
            raise RuntimeError("boom")

    seen = run_probe(Broken(), "connect", 1.0)
    assert not seen.ok and seen.error == "probe failed unexpectedly (logged)"


@pytest.mark.parametrize("body, content_type, expected", [
    (b'<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>', "text/xml", None),
    (b'<description xmlns="http://www.w3.org/ns/wsdl"/>', "application/xml", None),
    (b"<html><body><form>Password</form></body></html>", "text/html", "a login page?"),
    (b"<html><body>Sign in</body></html>", "text/xml", "a login page?"),
    (b"<root/>", "text/xml", "not a WSDL document (root element <root>)"),
    (b"<definitions", "text/xml", "not usable XML"),
    (b'<!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>', "text/xml", "not usable XML"),
])
def test_what_counts_as_a_wsdl(body, content_type, expected):
    problem = wsdl_problem(body, content_type)
    assert problem is None if expected is None else expected in problem


@pytest.fixture
def login_wall():
    """An HTTP server answering every GET with a login page (a proxy or SSO wall in front of a WSDL)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body><form action='/login'>User <input name=u></form></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/svc?wsdl"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_wsdl_probe_behind_a_login_page_fails_with_a_plain_reason(login_wall):
    seen = run_probe(Addressed(url=login_wall), "wsdl", 2.0)
    assert not seen.ok and seen.status == "error"
    assert seen.error == "answered with a web page instead of the WSDL (a login page?)"


# --- the simulated back office ------------------------------------------------------------



@pytest.mark.backoffice
def test_every_demo_system_passes_its_own_probe(backoffice, demo_adapters):
    for adapter in demo_adapters.values():
        kind = adapter.config.probe.kind_for(adapter.config.kind)
        seen = run_probe(adapter, kind, adapter.config.timeout_s, adapter.config.probe.number)
        assert seen is not None and seen.ok, (adapter.id, kind, seen)
    assert demo_adapters["boss"].config.probe.kind_for("soap") == "wsdl"
    assert demo_adapters["loyalty"].config.probe.kind_for("html") == "canary"


def test_a_soap_system_with_an_uploaded_wsdl_is_probed_by_connecting(demo_adapters):
    """An uploaded WSDL (``wsdl_content``) leaves no service description URL to fetch."""
    probe = demo_adapters["boss"].config.probe
    assert probe.kind_for("soap", has_description=False) == "connect"


@pytest.mark.backoffice
@pytest.mark.parametrize("kind", ["connect", "wsdl", "canary"])
def test_stopped_system_fails_every_probe(backoffice, demo_adapters, kind):
    backoffice.stop_system("boss")
    seen = run_probe(demo_adapters["boss"], kind, 1.0, "13800000000")
    assert not seen.ok and seen.status == "unavailable" and "refused" in seen.error


@pytest.mark.backoffice
def test_hung_system_times_out_wsdl_and_canary_but_still_accepts_connections(backoffice, demo_adapters):
    backoffice.hang("boss")
    boss = demo_adapters["boss"]
    assert run_probe(boss, "connect", 0.5).ok  # the limit of a connect probe, and why wsdl is the default
    for kind in ("wsdl", "canary"):
        seen = run_probe(boss, kind, 0.5, "13800000000")
        assert not seen.ok and seen.status == "timeout", (kind, seen)
        assert seen.latency_ms < 5000


@pytest.mark.backoffice
def test_slow_system_answers_with_its_latency(backoffice, demo_adapters):
    backoffice.set_latency("vas", 0.3)
    seen = run_probe(demo_adapters["vas"], "canary", 2.0, "13800000000")
    assert seen.ok and seen.latency_ms >= 300


@pytest.mark.backoffice
def test_canary_of_an_unknown_customer_is_an_answer(backoffice, demo_adapters):
    seen = run_probe(demo_adapters["boss"], "canary", 2.0, "19999999999")
    assert seen.ok and seen.status == "not_found"


@pytest.mark.backoffice
def test_garbage_wsdl_and_garbage_answers_are_failures(backoffice, demo_adapters):
    backoffice.inject("boss", "garbage")
    seen = run_probe(demo_adapters["boss"], "wsdl", 2.0)
    assert not seen.ok and seen.status == "error" and "not usable XML" in seen.error
    backoffice.inject("vas", "garbage")
    seen = run_probe(demo_adapters["vas"], "canary", 2.0, "13800000000")
    assert not seen.ok and seen.status == "error"


@pytest.mark.backoffice
def test_login_page_instead_of_the_wsdl(backoffice, demo_adapters):
    backoffice.inject("payments", "login_page")
    seen = run_probe(demo_adapters["payments"], "wsdl", 2.0)
    assert not seen.ok and "login page" in seen.error
