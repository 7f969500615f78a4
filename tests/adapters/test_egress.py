"""The egress policy (portal.adapters.egress): its decisions and messages, its settings, and the fetches
the contract kit does not reach (login form, XSD, SOAP endpoint, monitor probes, adapter files).

The per-kind refusals (loopback, link-local, metadata, the portal's own services, names, IPv6 forms,
redirects; at registration and at connect time) are in the contract kit, portal/adapters/testing.py.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import replace

import pytest

from portal.adapters.base import Status
from portal.adapters.boundary import Boundary
from portal.adapters.egress import EgressPolicy, EgressRefused, OwnAddress, parse_rules
from portal.adapters.egress_check import resolve_bounded
from portal.adapters.egress_settings import boundary_from_settings, parse_host_port, policy_from_settings
from portal.adapters.registry import build_adapter, load_adapter_dir
from portal.adapters.testing_servers import ContractHttpServer, ContractTcpServer, Delivery
from portal.config import load_settings
from portal.errors import BackendProtocolError, ConfigError

LOOPBACK = "127.0.0.1"
EVERYWHERE = [{"name": "everywhere", "cidrs": ["0.0.0.0/0", "::/0"]}]


def policy(rules, own=()) -> EgressPolicy:
    return EgressPolicy(parse_rules(rules), tuple(own))


def refusal(policy_: EgressPolicy, host: str, port: int, owner: str | None = "marketing-team") -> str | None:
    try:
        policy_.check(host, port, owner)
    except EgressRefused as exc:
        assert exc.detail == f"refused by the egress policy: {exc.reason}"
        return exc.reason
    return None


# -- decisions and their messages -------------------------------------------------------------------------

# The demo's rule at the back office's fixed ports, as data: these tests only ask the policy, nothing connects.
DEMO = [{"name": "back office", "hosts": [LOOPBACK], "ports": "8201-8212,8310-8312"}]
REDIS = OwnAddress("Redis", LOOPBACK, 6379, frozenset({ipaddress.ip_address(LOOPBACK)}))
DATABASE = OwnAddress("database", LOOPBACK, 5432, frozenset({ipaddress.ip_address(LOOPBACK)}))


@pytest.mark.parametrize(("rules", "own", "host", "port", "reason"), [
    (DEMO, (), LOOPBACK, 8080, "127.0.0.1 is a loopback address, and no [egress] rule lists it with port 8080"),
    (EVERYWHERE, (), LOOPBACK, 8201, "127.0.0.1 is a loopback address, and no [egress] rule lists it with port 8201"),
    (EVERYWHERE, (), "169.254.169.254", 80,
     "169.254.169.254 is a cloud metadata address, and no [egress] rule lists it with port 80"),
    (EVERYWHERE, (), "100.100.100.200", 80, "100.100.100.200 is a cloud metadata address"),
    (EVERYWHERE, (), "fd00:ec2::254", 80, "fd00:ec2::254 is a cloud metadata address"),
    (EVERYWHERE, (), "169.254.3.4", 80, "169.254.3.4 is a link-local address"),
    (EVERYWHERE, (), "0.0.0.0", 80, "0.0.0.0 is an unspecified address"),
    (EVERYWHERE, (), "::", 80, ":: is an unspecified address"),
    (EVERYWHERE, (), "::1", 80, "::1 is a loopback address"),
    (EVERYWHERE, (), "[::1]", 80, "::1 is a loopback address"),
    (EVERYWHERE, (), "::ffff:127.0.0.1", 80, "::ffff:127.0.0.1 is a loopback address (IPv4-mapped 127.0.0.1)"),
    (EVERYWHERE, (), "::ffff:169.254.169.254", 80, "is a cloud metadata address (IPv4-mapped 169.254.169.254)"),
    (EVERYWHERE, (), "fe80::1", 80, "fe80::1 is a link-local address"),
    (EVERYWHERE, (), "64:ff9b::7f00:1", 80, "64:ff9b::7f00:1 is a route to 127.0.0.1, a loopback address"),
    (EVERYWHERE, (), "2002:7f00:1::", 80, "2002:7f00:1:: is a route to 127.0.0.1, a loopback address"),
    ([{"hosts": [LOOPBACK], "ports": "1-65535"}], (REDIS,), LOOPBACK, 6379, "127.0.0.1:6379 is the portal's own Redis"),
    ([{"hosts": [LOOPBACK], "ports": "5000-6000"}], (DATABASE,), LOOPBACK, 5432,
     "127.0.0.1:5432 is the portal's own database"),
    ([], (), "10.1.2.3", 8080, "no [egress] rule allows 10.1.2.3:8080 for team marketing-team"),
    ([{"cidrs": ["10.0.0.0/8"], "ports": "443"}], (), "10.1.2.3", 8080,
     "no [egress] rule allows 10.1.2.3:8080 for team marketing-team (rule 1 allows ports 443 only)"),
    ([{"name": "crm", "cidrs": ["10.0.0.0/8"], "teams": ["billing-team"]}], (), "10.1.2.3", 8080,
     'no [egress] rule allows 10.1.2.3:8080 for team marketing-team (rule "crm" is for billing-team only)'),
    ([], (), "crm.example.internal", 443, "no [egress] rule allows crm.example.internal:443 for team marketing-team"),
])
def test_refusals_name_what_was_refused_and_why(rules, own, host, port, reason):
    assert reason in (refusal(policy(rules, own), host, port) or "(allowed)")


@pytest.mark.parametrize(("rules", "own", "host", "port", "owner"), [
    (DEMO, (), LOOPBACK, 8201, "marketing-team"),
    (DEMO, (), LOOPBACK, 8312, None),
    ([{"cidrs": ["127.0.0.0/8"], "ports": "9000"}], (), "127.0.0.9", 9000, None),  # a network inside loopback
    ([{"hosts": ["::1"], "ports": "9000"}], (), "::1", 9000, None),
    ([{"hosts": [LOOPBACK], "ports": "9000"}], (), "::ffff:127.0.0.1", 9000, None),
    ([{"hosts": ["169.254.169.254"], "ports": [80]}], (), "169.254.169.254", 80, None),  # listed: an admin's choice
    ([{"hosts": [LOOPBACK], "ports": "6379"}], (REDIS,), LOOPBACK, 6379, None),  # the exact address and port
    (EVERYWHERE, (), "10.1.2.3", 8080, "marketing-team"),
    ([{"cidrs": ["10.0.0.0/8"], "ports": "8000-8100", "teams": ["marketing-team"]}], (), "10.1.2.3", 8080,
     "marketing-team"),
    ([{"hosts": ["*.example.internal"], "ports": "443"}], (), "crm.example.internal", 443, None),
])
def test_allowed(rules, own, host, port, owner):
    assert refusal(policy(rules, own), host, port, owner) is None


def test_a_broad_network_or_a_port_range_does_not_list_the_portals_own_services():
    assert refusal(policy([{"cidrs": ["127.0.0.0/8"], "ports": "6379"}], (REDIS,)), LOOPBACK, 6379)
    assert refusal(policy([{"hosts": [LOOPBACK], "ports": "6000-7000"}], (REDIS,)), LOOPBACK, 6379)


def test_a_rule_for_one_team_does_not_list_a_special_address_for_another():
    rules = [{"hosts": [LOOPBACK], "ports": "9000", "teams": ["billing-team"]}]
    assert refusal(policy(rules), LOOPBACK, 9000, "billing-team") is None
    assert refusal(policy(rules), LOOPBACK, 9000, "marketing-team")
    assert refusal(policy(rules), LOOPBACK, 9000, None)


def test_a_name_resolving_to_a_refused_address_is_refused_at_connect_time():
    rules = [{"hosts": ["localhost"], "ports": "9000"}, *EVERYWHERE]  # a name never lists loopback
    with pytest.raises(EgressRefused) as caught:
        policy(rules).resolve_and_check("localhost", 9000, None)
    assert caught.value.reason.startswith("localhost resolves to ")
    assert "a loopback address, and no [egress] rule lists it with port 9000" in caught.value.reason


def test_resolve_and_check_returns_the_checked_addresses_to_connect_to():
    found = policy([{"hosts": [LOOPBACK], "ports": "9000"}]).resolve_and_check(LOOPBACK, 9000, None)
    assert found == [(socket.AF_INET, (LOOPBACK, 9000))]
    # a name whose every address is allowed: the addresses, not the name, are returned
    found = policy([{"cidrs": ["127.0.0.0/8", "::1/128"], "ports": "9000"}]).resolve_and_check("localhost", 9000, None)
    assert found and all(ipaddress.ip_address(sockaddr[0]).is_loopback for _, sockaddr in found)


def test_a_web_server_on_every_interface_is_refused_on_every_loopback_address():
    own = OwnAddress("web server", "", 5000, frozenset(), every_local=True)
    assert refusal(policy(EVERYWHERE + [{"cidrs": ["127.0.0.0/8"], "ports": "5000"}], (own,)), "127.0.0.5", 5000) \
        == "127.0.0.5:5000 is the portal's own web server"


def test_the_egress_refusal_is_an_error_that_is_not_retried():
    assert issubclass(EgressRefused, BackendProtocolError)
    assert EgressRefused("x").result_status == "error" and not EgressRefused("x").retry_safe


# -- rules as admins write them ----------------------------------------------------------------------------

@pytest.mark.parametrize(("rules", "reason"), [
    ({"hosts": ["x"]}, "must be a list of rules"),
    (["10.0.0.1"], "rule 1: must be a table"),
    ([{"hosts": ["a.example"], "port": "80"}], "rule 1: unknown key 'port'"),
    ([{"ports": "80"}], "rule 1: needs hosts or cidrs"),
    ([{"cidrs": ["10.0.0.1/8"]}], "rule 1: cidrs: '10.0.0.1/8' is not a network (10.0.0.1/8 has host bits set)"),
    ([{"cidrs": ["10.0.0.0/33"]}], "rule 1: cidrs: '10.0.0.0/33' is not a network"),
    ([{"hosts": ["a.example"]}, {"hosts": ["b.example"], "ports": "9000-8000"}], "rule 2: ports: 9000-8000 runs backwards"),
    ([{"hosts": ["a.example"], "ports": "70000"}], "rule 1: ports: 70000 is outside 1-65535"),
    ([{"hosts": ["a.example"], "ports": "80;443"}], "rule 1: ports: '80;443' is not a port or a range like 8200-8212"),
    ([{"hosts": ["a.example"], "ports": []}], "rule 1: ports: must name at least one port"),
    ([{"hosts": ["bad host!"]}], "rule 1: hosts: 'bad host!' is neither an IP address nor a host name"),
    ([{"hosts": "a.example", "teams": [1]}], "rule 1: teams: must be a list of strings"),
])
def test_bad_rules_are_refused_with_a_reason(rules, reason):
    with pytest.raises(ValueError) as caught:
        parse_rules(rules)
    assert str(caught.value).startswith(reason)


def test_ports_as_a_string_a_number_or_a_list():
    rule = parse_rules([{"hosts": ["a.example"], "ports": ["8200-8212", 8310, "8400,8401"]}])[0]
    assert rule.ports == ((8200, 8212), (8310, 8310), (8400, 8400), (8401, 8401))


def test_settings_validate_the_rules_and_name_the_setting():
    with pytest.raises(ConfigError) as caught:
        load_settings({"egress_allow": [{"cidrs": ["10.0.0.0/33"]}]}, environ={})
    assert caught.value.key == "egress_allow"
    assert caught.value.reason.startswith("rule 1: cidrs: '10.0.0.0/33' is not a network")


def test_settings_take_rules_as_json_from_the_environment(tmp_path):
    empty = tmp_path / "portal.toml"
    empty.write_text("")
    settings = load_settings(environ={"PORTAL_EGRESS_ALLOW": '[{"hosts": ["10.0.0.7"], "ports": "8080"}]',
                                      "PORTAL_SERVE_ADDRESSES": "127.0.0.1:5000,[::1]:5000",
                                      "PORTAL_CONFIG": str(empty)})
    assert settings.egress_allow == [{"hosts": ["10.0.0.7"], "ports": "8080"}]
    assert settings.serve_addresses == ["127.0.0.1:5000", "[::1]:5000"]
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PORTAL_EGRESS_ALLOW": "[{", "PORTAL_CONFIG": str(empty)})
    assert (caught.value.source, caught.value.key) == ("environment PORTAL_EGRESS_ALLOW", "egress_allow")
    assert caught.value.reason.startswith("not valid JSON")


def test_settings_read_egress_rules_from_the_toml_section(tmp_path):
    config = tmp_path / "portal.toml"
    config.write_text('[egress]\nown_addresses = ["portal.example.internal:443"]\n\n'
                      '[[egress.allow]]\nname = "crm"\nhosts = ["crm.example.internal"]\nports = "443"\n'
                      'teams = ["billing-team"]\n')
    settings = load_settings(environ={}, config_file=config)
    assert settings.egress_allow == [{"name": "crm", "hosts": ["crm.example.internal"], "ports": "443",
                                      "teams": ["billing-team"]}]
    assert settings.egress_own_addresses == ["portal.example.internal:443"]


@pytest.mark.parametrize("text", ["localhost", "127.0.0.1:0", "::1:5000", "host:port"])
def test_own_addresses_must_be_host_and_port(text):
    with pytest.raises(ValueError):
        parse_host_port(text)
    with pytest.raises(ConfigError) as caught:
        load_settings({"serve_addresses": [text]}, environ={})
    assert caught.value.key == "serve_addresses"


def test_the_portals_own_services_come_from_its_settings(tmp_path):
    settings = load_settings({
        "data_dir": str(tmp_path), "database_url": "postgresql+psycopg://portal:pw@127.0.0.1/portal",
        "redis_url": "redis://[::1]:6380/0", "serve_addresses": ["0.0.0.0:5000"],
        "egress_own_addresses": ["127.0.0.2:8443"], "egress_allow": EVERYWHERE,
    }, environ={})
    policy_ = policy_from_settings(settings, ["127.0.0.3:9000"])
    described = {(own["what"], own["host"], own["port"]) for own in policy_.describe()["own_addresses"]}
    assert described == {("database", LOOPBACK, 5432), ("Redis", "::1", 6380), ("web server", "*", 5000),
                         ("web server", "127.0.0.2", 8443), ("web server", "127.0.0.3", 9000)}
    lists_all = EgressPolicy(parse_rules([{"cidrs": ["127.0.0.0/8", "::1/128"], "ports": "1-65535"}]),
                             policy_.own, policy_.local_addresses)
    assert refusal(lists_all, LOOPBACK, 5432) == "127.0.0.1:5432 is the portal's own database"
    assert refusal(lists_all, "::1", 6380) == "[::1]:6380 is the portal's own Redis"
    assert refusal(lists_all, "127.0.0.9", 5000) == "127.0.0.9:5000 is the portal's own web server"
    assert refusal(lists_all, "127.0.0.3", 9000) == "127.0.0.3:9000 is the portal's own web server"
    assert refusal(lists_all, LOOPBACK, 5001) is None


def test_sqlite_and_unix_sockets_are_no_tcp_destination(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path), "redis_url": "unix:///run/redis.sock"}, environ={})
    assert policy_from_settings(settings).own == ()


def test_the_boundary_from_settings_is_guarded(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path), "adapters_dir": str(tmp_path)}, environ={})
    boundary = boundary_from_settings(settings, credential_bindings={"CRM": "team:billing-team"}, regex_budget_s=0.5)
    assert boundary.guarded and boundary.egress is not None and boundary.egress.rules == ()
    assert boundary.config_dir == tmp_path.resolve()
    assert (boundary.credential_bindings, boundary.regex_budget_s) == ({"CRM": "team:billing-team"}, 0.5)


# -- registration: every key that names a destination -------------------------------------------------------

def guarded(rules, own=()) -> Boundary:
    return Boundary(egress=policy(rules, own), guarded=True)


def html_document(url: str, **extra) -> dict:
    return {"id": "crm", "name": "CRM", "kind": "html", "owner": "marketing-team", "url": url,
            "fields": {"plan": {"path": "//td[@id='plan']"}}, **extra}


def test_registration_names_the_login_url():
    login = {"url": "http://127.0.0.1:9999/login", "username_field": "u", "password_field": "p",
             "credentials": "CRM", "login_page": "//form[@id='login']"}
    with pytest.raises(ConfigError) as caught:
        build_adapter(html_document("http://127.0.0.1:8207/member", login=login), "adapter crm",
                      guarded(DEMO))
    assert (caught.value.source, caught.value.key) == ("adapter crm", "login.url")
    assert caught.value.reason == ("refused by the egress policy: 127.0.0.1 is a loopback address, "
                                   "and no [egress] rule lists it with port 9999")


def test_registration_names_an_xsd_url():
    document = {"id": "vas", "name": "VAS", "kind": "xml", "url": "http://127.0.0.1:8204/vas",
                "body": "<q>{customer}</q>", "xsd": "http://169.254.169.254/latest/schema.xsd",
                "fields": {"plan": {"path": "/a/plan"}}}
    with pytest.raises(ConfigError) as caught:
        build_adapter(document, "adapter vas", guarded(DEMO + EVERYWHERE))
    assert caught.value.key == "xsd"
    assert "169.254.169.254 is a cloud metadata address" in caught.value.reason


def test_registration_refuses_a_name_that_does_not_resolve():
    with pytest.raises(ConfigError) as caught:
        build_adapter(html_document("http://no-such-host.invalid:8080/x"), "adapter crm", guarded(EVERYWHERE))
    assert caught.value.key == "url"
    assert caught.value.reason.startswith("refused by the egress policy: no-such-host.invalid ")
    assert "every address a name resolves to is checked" in caught.value.reason


def test_registration_refuses_a_host_made_of_the_customer_number():
    with pytest.raises(ConfigError) as caught:
        build_adapter(html_document("http://{customer}.example.internal/x"), "adapter crm", guarded(EVERYWHERE))
    assert caught.value.key == "url"
    assert "must not depend on the customer" in caught.value.reason


def test_registration_waits_for_a_slow_resolver_only_so_long(monkeypatch):
    import threading

    from portal.adapters.egress_check import ResolutionFailed

    release = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: release.wait(5) and [])
    try:
        with pytest.raises(ResolutionFailed, match="did not resolve within 0.2 s"):
            resolve_bounded("slow.example.internal", 80, wait_s=0.2)
    finally:
        release.set()


def test_an_adapter_file_refused_by_the_policy_is_reported_and_the_others_load(tmp_path):
    (tmp_path / "good.toml").write_text('id = "good"\nname = "Good"\nkind = "socket"\nhost = "127.0.0.1"\n'
                                        'port = 8210\nrequest = "Q {customer}"\nparse = "kv"\n')
    (tmp_path / "evil.toml").write_text('id = "evil"\nname = "Evil"\nkind = "socket"\nhost = "127.0.0.1"\n'
                                        'port = 6379\nrequest = "SET k {customer}"\nparse = "kv"\n')
    loaded = load_adapter_dir(tmp_path, guarded(DEMO, (REDIS,)))
    assert loaded.registry.ids() == ["good"]
    [error] = loaded.errors
    assert (error.source, error.key) == (str(tmp_path / "evil.toml"), "host")
    assert error.reason == "refused by the egress policy: 127.0.0.1:6379 is the portal's own Redis"
    loaded.registry.close()


# -- connect time: the fetches beyond the main request ------------------------------------------------------

@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        server.stop()


def http_server(servers, respond, content_type="text/html; charset=utf-8", static=None):
    server = ContractHttpServer(respond, content_type=content_type, static=static or {})
    servers.append(server)
    return server


def connect_time_only(rules) -> Boundary:
    """Not guarded: documents are not checked when built, only each connection."""
    return Boundary(egress=policy(rules))


LOGIN_PAGE = b"<html><body><form id='login'><input name='u'><input name='p'></form></body></html>"


def test_a_login_form_at_a_refused_address_gets_no_password(servers):
    page = http_server(servers, lambda seen: Delivery(LOGIN_PAGE))
    thief = http_server(servers, lambda seen: Delivery(b"<html>thanks</html>"))
    login = {"url": f"{thief.url}/login", "username_field": "u", "password_field": "p",
             "credentials": "CRM", "login_page": "//form[@id='login']"}
    boundary = replace(connect_time_only([{"hosts": [LOOPBACK], "ports": str(page.port)}]),
                       credentials=lambda name: ("svc", "secret-password"))
    adapter = build_adapter(html_document(f"{page.url}/member", login=login), "adapter crm", boundary)
    try:
        result = adapter.lookup("13800000000")
    finally:
        adapter.close()
    assert result.status is Status.ERROR
    assert result.error == (f"refused by the egress policy: 127.0.0.1 is a loopback address, "
                            f"and no [egress] rule lists it with port {thief.port}")
    assert page.state.seen and thief.state.accepted == 0


def test_an_xsd_at_a_refused_address_is_not_fetched(servers):
    answer = b"<a><plan>Gold</plan></a>"
    system = http_server(servers, lambda seen: Delivery(answer), content_type="text/xml")
    schema = http_server(servers, lambda seen: Delivery(b"<xs:schema/>"), content_type="text/xml")
    document = {"id": "vas", "name": "VAS", "kind": "xml", "url": f"{system.url}/vas", "body": "<q>{customer}</q>",
                "xsd": f"{schema.url}/a.xsd", "fields": {"plan": {"path": "/a/plan"}}}
    adapter = build_adapter(document, "adapter vas",
                            connect_time_only([{"hosts": [LOOPBACK], "ports": str(system.port)}]))
    try:
        result = adapter.lookup("13800000000")
    finally:
        adapter.close()
    assert result.status is Status.ERROR and f"lists it with port {schema.port}" in result.error
    assert system.state.seen and schema.state.accepted == 0


def test_a_soap_service_address_at_a_refused_address_gets_no_call(servers):
    from portal.adapters import soap
    from tests.adapters.test_contract_soap import WSDL

    service = http_server(servers, lambda seen: Delivery(b""), content_type="text/xml")
    wsdl = WSDL.replace("{address}", f"{service.url}/svc").encode()
    described = http_server(servers, lambda seen: Delivery(b""), content_type="text/xml",
                            static={"/svc": ("text/xml; charset=utf-8", wsdl)})
    document = {"id": "boss", "name": "BOSS", "kind": "soap", "wsdl": f"{described.url}/svc",
                "operation": "Get", "args": {"msisdn": "{customer}"}, "fields": {"plan": {"path": "plan"}}}
    soap.clear_client_cache()
    adapter = build_adapter(document, "adapter boss",
                            connect_time_only([{"hosts": [LOOPBACK], "ports": str(described.port)}]))
    try:
        result = adapter.lookup("13800000000")
    finally:
        adapter.close()
        soap.clear_client_cache()
    assert result.status is Status.ERROR
    assert f"lists it with port {service.port}" in result.error
    assert described.state.seen and service.state.accepted == 0


def test_without_a_policy_connections_are_made_as_before(servers):
    system = http_server(servers, lambda seen: Delivery(b"<html><td id='plan'>Gold</td></html>"))
    adapter = build_adapter(html_document(f"{system.url}/member"), "adapter crm")
    try:
        assert adapter.lookup("13800000000").fields == {"plan": "Gold"}
    finally:
        adapter.close()


# -- the monitor's probes ---------------------------------------------------------------------------------

def test_connect_and_wsdl_probes_obey_the_adapters_policy(servers):
    from portal.monitor.probes import run_probe

    tcp = ContractTcpServer(lambda seen: Delivery(b"OK\n"), request_complete=lambda data: b"\n" in data)
    servers.append(tcp)
    document = {"id": "smsc", "name": "SMSC", "kind": "socket", "host": LOOPBACK, "port": tcp.port,
                "request": "Q {customer}", "parse": "kv"}
    refused = build_adapter(document, "adapter smsc", connect_time_only(DEMO))
    allowed = build_adapter(document, "adapter smsc",
                            connect_time_only([{"hosts": [LOOPBACK], "ports": str(tcp.port)}]))
    try:
        observation = run_probe(refused, "connect", 1.0)
        assert not observation.ok and observation.status == "error"
        assert observation.error.startswith("refused by the egress policy: 127.0.0.1 is a loopback address")
        assert tcp.state.accepted == 0
        assert run_probe(allowed, "connect", 1.0).ok
        deadline = time.monotonic() + 2
        while tcp.state.accepted == 0 and time.monotonic() < deadline:  # the server counts after accept()
            time.sleep(0.01)
        assert tcp.state.accepted == 1
    finally:
        refused.close()
        allowed.close()

    wsdl_server = http_server(servers, lambda seen: Delivery(b""), content_type="text/xml")
    soap_document = {"id": "boss", "name": "BOSS", "kind": "soap", "wsdl": f"{wsdl_server.url}/svc?wsdl",
                     "operation": "Get", "fields": {"plan": {"path": "plan"}}}
    adapter = build_adapter(soap_document, "adapter boss", connect_time_only(DEMO))
    try:
        observation = run_probe(adapter, "wsdl", 1.0)
    finally:
        adapter.close()
    assert not observation.ok and "refused by the egress policy" in observation.error
    assert wsdl_server.state.accepted == 0
