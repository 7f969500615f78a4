"""The back office's switches: stop/start a system, hang, latency, taken ports, a quick full stop."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

import portal.demo.backoffice as backoffice_module
from portal.demo.backoffice import BackOffice, BackOfficeError
from portal.demo.catalogue import SYSTEMS


pytestmark = pytest.mark.backoffice

LOYALTY = "http://127.0.0.1:8207/member?msisdn=13800000000"
WAP = "http://127.0.0.1:8206/wap/profile"
WAP_QUERY = b'<w:query xmlns:w="urn:demotel:wap:v1"><w:msisdn>13800000000</w:msisdn></w:query>'


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def test_stop_system_refuses_connections_and_start_system_brings_it_back(backoffice, http, net):
    assert http.get(LOYALTY, timeout=2).status_code == 200  # leaves a keep-alive connection in the pool
    backoffice.stop_system("loyalty")
    assert not backoffice.systems["loyalty"].running
    with pytest.raises(ConnectionRefusedError):
        net.connect(8207)
    with pytest.raises(requests.ConnectionError):  # the pooled connection was closed as well
        http.get(LOYALTY, timeout=2)
    backoffice.start_system("loyalty")
    assert backoffice.systems["loyalty"].running
    assert http.get(LOYALTY, timeout=2).status_code == 200


def test_stopping_a_socket_system_closes_its_screen_too(backoffice, net):
    backoffice.stop_system("mail")
    for port in (8212, 8312):
        with pytest.raises(ConnectionRefusedError):
            net.connect(port)
    backoffice.start_system("mail")
    with net.connect(8212) as sock:
        sock.sendall(b"13800000000\n")
        assert net.recv_exactly(sock, 80).startswith(b"OK13800000000")
    net.connect(8312).close()


def test_hang_times_out_a_client_and_reset_releases_the_waiting_request(backoffice, net):
    backoffice.hang("wap")
    impatient = session()
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        impatient.post(WAP, data=WAP_QUERY, timeout=0.5)
    assert 0.45 < time.monotonic() - started < 1.5
    impatient.close()

    request = (b"POST /wap/profile HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s"
               % (len(WAP_QUERY), WAP_QUERY))
    gave_up, waiting = net.connect(8206, timeout=0.5), net.connect(8206, timeout=0.5)
    for sock in (gave_up, waiting):
        sock.sendall(request)
        with pytest.raises(socket.timeout):
            sock.recv(100)
    threads = net.connection_threads(8206, gave_up) + net.connection_threads(8206, waiting)
    assert len(threads) == 2  # both requests are held by the server
    gave_up.close()
    backoffice.reset()  # lifts the hang: the request still waiting is answered
    waiting.settimeout(2)
    assert waiting.recv(100).startswith(b"HTTP/1.1 200 ")
    waiting.close()
    assert net.wait_until(lambda: not any(t.is_alive() for t in threads))  # no handler thread left behind


def test_hang_on_a_socket_system_then_release_answers_the_same_request(backoffice, net):
    backoffice.hang("smsc")
    with net.connect(8210, timeout=0.5) as sock:
        sock.sendall(b"HIST 13800000000\n")
        with pytest.raises(socket.timeout):
            sock.recv(100)
        backoffice.hang("smsc", False)
        sock.settimeout(2)
        assert net.recv_line(sock).startswith(b"OK msisdn=13800000000 ")


def test_stop_drops_hung_requests_of_every_system_within_two_seconds(backoffice, net):
    for spec in SYSTEMS:
        backoffice.hang(spec.id)
    requests_by_port = {8210: b"HIST 13800000000\n", 8211: b"\x00\x00\x00\x12msisdn=13800000000",
                        8212: b"13800000000\n"}
    ports = sorted({p for spec in SYSTEMS for p in (spec.port, spec.ui_port)})
    clients = []
    for port in ports:
        sock = net.connect(port)
        sock.sendall(requests_by_port.get(port, b"GET /ui/customer/13800000000 HTTP/1.1\r\nHost: x\r\n\r\n"))
        clients.append(sock)
    # every server has accepted its connection and is holding the request
    assert net.wait_until(lambda: all(net.connection_threads(p) for p in ports))
    started = time.monotonic()
    backoffice.stop()
    assert time.monotonic() - started < 2.0
    assert [t.name for t in threading.enumerate() if t.name.startswith("demo-")] == []
    for sock in clients:
        sock.settimeout(1)
        try:
            assert sock.recv(100) == b""  # closed without an answer
        except ConnectionResetError:
            pass
        sock.close()
    with pytest.raises(ConnectionRefusedError):
        net.connect(8201)
    backoffice.reset()  # everything comes back
    assert all(system.running for system in backoffice.systems.values())


def test_set_latency_delays_every_answer_until_reset(backoffice, http, net):
    started = time.monotonic()
    http.post(WAP, data=WAP_QUERY, timeout=2)
    assert time.monotonic() - started < 0.25
    backoffice.set_latency("wap", 0.3)
    backoffice.set_latency("mail", 0.3)
    started = time.monotonic()
    assert http.post(WAP, data=WAP_QUERY, timeout=2).status_code == 200
    assert time.monotonic() - started >= 0.3
    with net.connect(8212) as sock:
        started = time.monotonic()
        sock.sendall(b"13800000000\n")
        net.recv_exactly(sock, 80)
        assert time.monotonic() - started >= 0.3
    backoffice.reset()
    started = time.monotonic()
    http.post(WAP, data=WAP_QUERY, timeout=2)
    assert time.monotonic() - started < 0.25


def test_latency_given_at_construction_is_what_reset_restores(backoffice, http):
    backoffice.stop_system("roaming")
    own = BackOffice(latency={"roaming": 0.25}, systems=["roaming"]).start()
    try:
        started = time.monotonic()
        http.get("http://127.0.0.1:8203/ui/customer/13800000000", timeout=2)
        assert time.monotonic() - started >= 0.25
        own.set_latency("roaming", 0)
        own.reset()
        assert own.systems["roaming"].control.latency == 0.25
    finally:
        own.stop()


def test_taken_port_is_an_error_naming_system_and_port_and_undoes_the_start(backoffice, net):
    backoffice.stop_system("boss")  # boss can start, payments (8202) is taken by the running back office
    office = BackOffice(systems=["boss", "payments"])
    with pytest.raises(BackOfficeError, match=r"'payments'.*port 8202") as caught:
        office.start()
    assert (caught.value.system_id, caught.value.port) == ("payments", 8202)
    with pytest.raises(ConnectionRefusedError):
        net.connect(8201)  # boss was started by the failed call and closed again


def test_taken_ui_port_of_a_socket_system_closes_its_data_port(backoffice, net):
    backoffice.stop_system("mms")
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", 8311))
    squatter.listen()
    try:
        with pytest.raises(BackOfficeError, match=r"'mms'.*port 8311"):
            BackOffice(systems=["mms"]).start()
        with pytest.raises(ConnectionRefusedError):
            net.connect(8211)
    finally:
        squatter.close()


def test_bad_arguments_are_refused(backoffice):
    with pytest.raises(ValueError, match="nosuch"):
        BackOffice(systems=["nosuch"])
    with pytest.raises(ValueError, match="nosuch"):
        BackOffice(latency={"nosuch": 1.0})
    with pytest.raises(ValueError):
        BackOffice(latency=-1)
    with pytest.raises(ValueError):
        backoffice.set_latency("boss", float("nan"))
    with pytest.raises(KeyError, match="nosuch"):
        backoffice.hang("nosuch")
    assert list(BackOffice(systems=["mail", "boss"]).systems) == ["boss", "mail"]  # catalogue order


def test_serve_forever_starts_blocks_and_stops_on_keyboard_interrupt(backoffice, monkeypatch):
    backoffice.stop_system("wap")
    own = BackOffice(systems=["wap"])
    seen = []

    class Clock:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            seen.append(own.systems["wap"].running)
            raise KeyboardInterrupt

    monkeypatch.setattr(backoffice_module, "time", Clock)
    own.serve_forever()
    assert seen == [True] and not own.running


def test_systems_describe_where_they_listen(backoffice):
    boss, mail = backoffice.systems["boss"], backoffice.systems["mail"]
    assert (boss.id, boss.name, boss.protocol, boss.host, boss.port, boss.ui_port) == \
        ("boss", "BOSS billing & CRM", "soap", "127.0.0.1", 8201, 8201)
    assert boss.base_url == "http://127.0.0.1:8201"
    assert mail.ui_url("13800000000") == "http://127.0.0.1:8312/ui/customer/13800000000"
    assert mail.ui_url("1/2?x") == "http://127.0.0.1:8312/ui/customer/1%2F2%3Fx"
