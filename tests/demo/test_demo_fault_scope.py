"""Which requests a fault hits (times, number, order), how it ends (clear, reset), and the control endpoint."""

from __future__ import annotations

import pytest
import requests

from portal.demo.backoffice import FAULTS, BackOffice, BackOfficeError

pytestmark = pytest.mark.backoffice

N = "13800000000"
OTHER = "13800000001"  # known to loyalty and smsc too
CONTROL = "http://127.0.0.1:8200/faults"


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
    assert http.get("http://127.0.0.1:8201/boss?wsdl", timeout=5).status_code == 500  # the WSDL too
    assert wire.http(http, "boss").status_code == 200
    backoffice.inject("mail", "http_error")
    assert http.get(f"http://127.0.0.1:8312/ui/customer/{N}", timeout=5).status_code == 200
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
    with net.connect(8211, timeout=5) as sock:
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


def post(http, body, **kwargs) -> requests.Response:
    return http.post(CONTROL, json=body, timeout=5, **kwargs)


def test_control_endpoint_injects_lists_and_clears(backoffice, http, wire):
    assert backoffice.control_url == CONTROL
    listing = http.get(CONTROL, timeout=5).json()
    assert listing == {"faults": [], "kinds": list(FAULTS), "systems": list(backoffice.systems)}
    made = post(http, {"system": "vas", "fault": "http_error", "times": 1, "number": N, "params": {"status": 504}})
    assert made.status_code == 201 and made.headers["Content-Type"] == "application/json"
    assert made.json()["injected"] == {"system": "vas", "fault": "http_error", "times_left": 1, "number": N,
                                       "params": {"status": 504}, "served": 0}
    post(http, {"system": "smsc", "fault": "garbage"})
    assert [f["system"] for f in http.get(CONTROL, timeout=5).json()["faults"]] == ["vas", "smsc"]
    assert [f["fault"] for f in http.get(CONTROL, params={"system": "smsc"}, timeout=5).json()["faults"]] == \
        ["garbage"]
    assert wire.http(http, "vas").status_code == 504
    assert http.delete(CONTROL, params={"system": "smsc"}, timeout=5).json() == {"cleared": 1}
    assert wire.socket("smsc").startswith(b"OK ")
    post(http, {"system": "boss", "fault": "hang"})
    assert http.delete(CONTROL, timeout=5).json() == {"cleared": 1}
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
def test_control_endpoint_refuses_bad_bodies_with_a_reason(backoffice, http, body, status, message):
    answer = post(http, body)
    assert answer.status_code == status and message in answer.json()["error"]
    assert backoffice.active_faults() == []


def test_control_endpoint_wants_json_a_loopback_host_and_a_known_system(backoffice, http):
    form = http.post(CONTROL, data={"system": "boss", "fault": "hang"}, timeout=5)  # what a cross-site form sends
    assert form.status_code == 415
    rebound = http.get(CONTROL, headers={"Host": "evil.example:8200"}, timeout=5)  # DNS rebinding
    assert rebound.status_code == 403 and "evil.example" in rebound.json()["error"]
    assert http.get(CONTROL, headers={"Host": "localhost:8200"}, timeout=5).status_code == 200
    assert http.get(CONTROL, params={"system": "nosuch"}, timeout=5).status_code == 404
    assert http.post(CONTROL, data=b"{", headers={"Content-Type": "application/json"}, timeout=5).status_code == 400
    assert backoffice.active_faults() == []


def test_control_endpoint_listens_on_loopback_and_answers_while_systems_hang(backoffice, http):
    server = backoffice.control_endpoint._listener.server
    assert server.server_address == ("127.0.0.1", 8200)
    for system_id in backoffice.systems:
        backoffice.hang(system_id)
    assert http.get(CONTROL, timeout=2).status_code == 200


def test_only_a_whole_back_office_serves_the_control_endpoint(backoffice):
    assert BackOffice(systems=["boss"]).control_url is None
    assert BackOffice(systems=["boss"], control=True, control_port=8299).control_url == \
        "http://127.0.0.1:8299/faults"


def test_a_taken_control_port_is_an_error_naming_it_and_undoes_the_start(backoffice, net):
    backoffice.stop_system("boss")  # boss can start; 8200 is the whole back office's control endpoint
    with pytest.raises(BackOfficeError, match=r"'control'.*port 8200"):
        BackOffice(systems=["boss"], control=True).start()
    with pytest.raises(ConnectionRefusedError):
        net.connect(8201)
