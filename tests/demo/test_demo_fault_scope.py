"""Which requests a fault hits (times, number, order), how it ends (clear, reset), and the control endpoint."""

from __future__ import annotations

import pytest
import requests

from portal.demo.backoffice import FAULTS, BackOffice, BackOfficeError

pytestmark = pytest.mark.backoffice

N = "13800000000"
OTHER = "13800000001"  # known to loyalty and smsc too


@pytest.fixture
def control(backoffice) -> str:
    """The session back office's fault-control endpoint (on a free port, like its systems)."""
    return backoffice.control_url


def test_the_faults_are_named_once():
    assert FAULTS == ("latency", "http_error", "garbage", "hang", "reset", "oversized", "xml_bomb", "xxe",
                      "wrong_charset", "login_page")


def test_times_counts_the_requests_hit_then_the_fault_is_gone(backoffice, http, wire):
    backoffice.inject("loyalty", "http_error", times=2)
    assert [f["times_left"] for f in backoffice.active_faults("loyalty")] == [2]
    assert [wire.http(http, "loyalty").status_code for _ in range(3)] == [503, 503, 200]
    assert backoffice.active_faults() == []


def test_number_limits_a_fault_to_requests_about_that_customer(backoffice, http, wire):
    backoffice.inject("loyalty", "http_error", number=OTHER)
    backoffice.inject("smsc", "login_page", number=OTHER, times=1)
    assert wire.http(http, "loyalty", N).status_code == 200
    assert wire.http(http, "loyalty", OTHER).status_code == 503
    assert wire.http(http, "loyalty", "1" + OTHER).status_code == 200  # a whole number, not a substring
    assert wire.socket("smsc", N).startswith(b"OK ")
    assert wire.socket("smsc", OTHER) == b"LOGIN REQUIRED\n"
    assert wire.socket("smsc", OTHER).startswith(b"OK ")  # times=1: used up
    [left] = backoffice.active_faults()
    assert left == {"system": "loyalty", "fault": "http_error", "times_left": None, "number": OTHER,
                    "params": {"status": 503}, "served": 1}


def test_faults_apply_in_the_order_they_were_injected(backoffice, wire):
    backoffice.inject("smsc", "login_page", times=1)
    backoffice.inject("smsc", "http_error", times=1)
    assert [wire.socket("smsc")[:5] for _ in range(3)] == [b"LOGIN", b"ERR I", b"OK ms"]


def test_every_request_counts_on_http_systems_but_socket_screens_are_spared(backoffice, http, wire):
    backoffice.inject("boss", "http_error", times=1)
    assert http.get(f"{backoffice.systems['boss'].base_url}/boss?wsdl", timeout=5).status_code == 500  # WSDL too
    assert wire.http(http, "boss").status_code == 200
    backoffice.inject("mail", "http_error")
    assert http.get(backoffice.systems["mail"].ui_url(N), timeout=5).status_code == 200
    assert wire.socket("mail").startswith(b"ER")


def test_clear_faults_of_one_system_or_all_and_reset_clears_too(backoffice, http, wire):
    for system_id in ("loyalty", "vas", "smsc"):
        backoffice.inject(system_id, "http_error")
    backoffice.clear_faults("vas")
    assert wire.http(http, "vas").status_code == 200
    assert {f["system"] for f in backoffice.active_faults()} == {"loyalty", "smsc"}
    backoffice.clear_faults()
    assert backoffice.active_faults() == [] and wire.http(http, "loyalty").status_code == 200
    backoffice.inject("smsc", "garbage")
    backoffice.reset()
    assert wire.socket("smsc").startswith(b"OK ")


def test_clear_cuts_an_injected_latency_short(backoffice, net, wire):
    backoffice.inject("mms", "latency", seconds=30)
    with net.connect(wire.port("mms"), timeout=5) as sock:
        sock.sendall(wire.socket_request("mms", N))
        assert net.wait_until(lambda: backoffice.active_faults("mms")[0]["served"] == 1)
        backoffice.clear_faults("mms")
        assert wire.read_socket_answer("mms", sock)[4:].startswith(b"result=OK|")  # answered at once


@pytest.mark.parametrize("args, kwargs, message", [
    (("boss", "flood"), {}, "unknown fault 'flood'"),
    (("boss", "latency"), {}, "latency needs the parameter seconds"),
    (("boss", "latency"), {"seconds": -1}, "seconds must be"),
    (("boss", "http_error"), {"status": 200}, "HTTP error status"),
    (("boss", "oversized"), {"bytes": 0}, "bytes must be"),
    (("boss", "garbage"), {"seconds": 1}, "garbage takes no parameter seconds"),
    (("boss", "reset"), {"times": 0}, "times must be a positive integer"),
    (("boss", "reset"), {"number": ""}, "number must be"),
])
def test_bad_injections_are_refused_with_the_reason(backoffice, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        backoffice.inject(*args, **kwargs)
    with pytest.raises(KeyError, match="nosuch"):
        backoffice.inject("nosuch", "reset")
    assert backoffice.active_faults() == []


# --------------------------------------------------------------------------- control endpoint


def post(http, control, body, **kwargs) -> requests.Response:
    return http.post(control, json=body, timeout=5, **kwargs)


def test_control_endpoint_injects_lists_and_clears(backoffice, control, http, wire):
    assert control == f"http://127.0.0.1:{backoffice.addresses.control_port}/faults"
    listing = http.get(control, timeout=5).json()
    assert listing == {"faults": [], "kinds": list(FAULTS), "systems": list(backoffice.systems)}
    made = post(http, control, {"system": "vas", "fault": "http_error", "times": 1, "number": N, "params": {"status": 504}})
    assert made.status_code == 201 and made.headers["Content-Type"] == "application/json"
    assert made.json()["injected"] == {"system": "vas", "fault": "http_error", "times_left": 1, "number": N,
                                       "params": {"status": 504}, "served": 0}
    post(http, control, {"system": "smsc", "fault": "garbage"})
    assert [f["system"] for f in http.get(control, timeout=5).json()["faults"]] == ["vas", "smsc"]
    assert [f["fault"] for f in http.get(control, params={"system": "smsc"}, timeout=5).json()["faults"]] == \
        ["garbage"]
    assert wire.http(http, "vas").status_code == 504
    assert http.delete(control, params={"system": "smsc"}, timeout=5).json() == {"cleared": 1}
    assert wire.socket("smsc").startswith(b"OK ")
    post(http, control, {"system": "boss", "fault": "hang"})
    assert http.delete(control, timeout=5).json() == {"cleared": 1}
    assert backoffice.active_faults() == []


@pytest.mark.parametrize("body, status, message", [
    ({"system": "boss"}, 400, "fault must be one of"),
    ({"system": "nosuch", "fault": "hang"}, 400, "system must be one of"),
    ({"system": "boss", "fault": "latency"}, 400, "latency needs the parameter seconds"),
    ({"system": "boss", "fault": "hang", "when": "now"}, 400, "unknown key(s) when"),
    ({"system": "boss", "fault": "oversized", "params": {"bytes": "big"}}, 400, "bytes must be"),
    ({"system": "boss", "fault": "hang", "params": {"times": 2}}, 400, "times"),
    ([1, 2], 400, "expected a JSON object"),
])
def test_control_endpoint_refuses_bad_bodies_with_a_reason(backoffice, control, http, body, status, message):
    answer = post(http, control, body)
    assert answer.status_code == status and message in answer.json()["error"]
    assert backoffice.active_faults() == []


def test_control_endpoint_wants_json_a_loopback_host_and_a_known_system(backoffice, control, http):
    form = http.post(control, data={"system": "boss", "fault": "hang"}, timeout=5)  # what a cross-site form sends
    assert form.status_code == 415
    port = backoffice.addresses.control_port
    rebound = http.get(control, headers={"Host": f"evil.example:{port}"}, timeout=5)  # DNS rebinding
    assert rebound.status_code == 403 and rebound.json()["error"] == \
        f"Host 'evil.example:{port}' refused: use http://127.0.0.1:{port}/faults"
    assert http.get(control, headers={"Host": f"localhost:{port}"}, timeout=5).status_code == 200
    assert http.get(control, params={"system": "nosuch"}, timeout=5).status_code == 404
    assert http.post(control, data=b"{", headers={"Content-Type": "application/json"}, timeout=5).status_code == 400
    assert backoffice.active_faults() == []


def test_control_endpoint_listens_on_loopback_and_answers_while_systems_hang(backoffice, control, http):
    server = backoffice.control_endpoint._listener.server
    assert server.server_address == ("127.0.0.1", backoffice.addresses.control_port)
    for system_id in backoffice.systems:
        backoffice.hang(system_id)
    assert http.get(control, timeout=2).status_code == 200


def test_only_a_whole_back_office_serves_the_control_endpoint(backoffice):
    assert BackOffice(systems=["boss"]).control_url is None
    assert BackOffice(systems=["boss"], control=True, control_port=8299).control_url == \
        "http://127.0.0.1:8299/faults"


def test_a_taken_control_port_is_an_error_naming_it_and_undoes_the_start(backoffice, net):
    taken = backoffice.addresses.control_port  # the session back office's control endpoint listens there
    office = BackOffice(systems=["boss"], control=True, control_port=taken, ports="free")
    with pytest.raises(BackOfficeError, match=rf"'control'.*port {taken}"):
        office.start()
    with pytest.raises(ConnectionRefusedError):
        net.connect(office.systems["boss"].port)  # boss was started, then closed again
    assert not office.systems["boss"].reserved
