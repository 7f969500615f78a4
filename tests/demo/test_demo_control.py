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

WAP_QUERY = b'<w:query xmlns:w="urn:demotel:wap:v1"><w:msisdn>13800000000</w:msisdn></w:query>'


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def loyalty_url(office: BackOffice) -> str:
    return f"{office.systems['loyalty'].base_url}/member?msisdn=13800000000"


def wap_url(office: BackOffice) -> str:
    return f"{office.systems['wap'].base_url}/wap/profile"


def test_stop_system_refuses_connections_and_start_system_brings_it_back(backoffice, http, net):
    loyalty = backoffice.systems["loyalty"]
    assert http.get(loyalty_url(backoffice), timeout=2).status_code == 200  # leaves a keep-alive connection
    backoffice.stop_system("loyalty")
    assert not loyalty.running
    with pytest.raises(ConnectionRefusedError):
        net.connect(loyalty.port)
    with pytest.raises(requests.ConnectionError):  # the pooled connection was closed as well
        http.get(loyalty_url(backoffice), timeout=2)
    backoffice.start_system("loyalty")
    assert loyalty.running
    assert http.get(loyalty_url(backoffice), timeout=2).status_code == 200


def test_stopping_a_socket_system_closes_its_screen_too(backoffice, net):
    mail = backoffice.systems["mail"]
    backoffice.stop_system("mail")
    for port in (mail.port, mail.ui_port):
        with pytest.raises(ConnectionRefusedError):
            net.connect(port)
    backoffice.start_system("mail")
    with net.connect(mail.port) as sock:
        sock.sendall(b"13800000000\n")
        assert net.recv_exactly(sock, 80).startswith(b"OK13800000000")
    net.connect(mail.ui_port).close()


def test_a_system_on_a_free_port_comes_back_on_that_port_and_holds_it_meanwhile(backoffice, net):
    # Its adapter file names the port: while it is stopped no other socket may get the port.
    loyalty = backoffice.systems["loyalty"]
    before = loyalty.port
    backoffice.stop_system("loyalty")
    other = socket.socket()
    with pytest.raises(OSError):
        other.bind(("127.0.0.1", before))  # neither a server (no SO_REUSEADDR) ...
    other.close()
    assert before not in {bound_to_any_free_port() for _ in range(200)}  # ... nor a bind to port 0
    backoffice.start_system("loyalty")
    assert loyalty.port == before and loyalty.base_url == f"http://127.0.0.1:{before}"
    net.connect(before).close()


def bound_to_any_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_hang_times_out_a_client_and_reset_releases_the_waiting_request(backoffice, net):
    wap = backoffice.systems["wap"]
    backoffice.hang("wap")
    impatient = session()
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        impatient.post(wap_url(backoffice), data=WAP_QUERY, timeout=0.5)
    assert 0.45 < time.monotonic() - started < 1.5
    impatient.close()

    request = (b"POST /wap/profile HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s"
               % (len(WAP_QUERY), WAP_QUERY))
    gave_up, waiting = net.connect(wap.port, timeout=0.5), net.connect(wap.port, timeout=0.5)
    for sock in (gave_up, waiting):
        sock.sendall(request)
        with pytest.raises(socket.timeout):
            sock.recv(100)
    threads = net.connection_threads(wap.port, gave_up) + net.connection_threads(wap.port, waiting)
    assert len(threads) == 2  # both requests are held by the server
    gave_up.close()
    backoffice.reset()  # lifts the hang: the request still waiting is answered
    waiting.settimeout(2)
    assert waiting.recv(100).startswith(b"HTTP/1.1 200 ")
    waiting.close()
    assert net.wait_until(lambda: not any(t.is_alive() for t in threads))  # no handler thread left behind


def test_hang_on_a_socket_system_then_release_answers_the_same_request(backoffice, net):
    backoffice.hang("smsc")
    with net.connect(backoffice.systems["smsc"].port, timeout=0.5) as sock:
        sock.sendall(b"HIST 13800000000\n")
        with pytest.raises(socket.timeout):
            sock.recv(100)
        backoffice.hang("smsc", False)
        sock.settimeout(2)
        assert net.recv_line(sock).startswith(b"OK msisdn=13800000000 ")


def test_stop_drops_hung_requests_of_every_system_within_two_seconds(backoffice, net):
    for spec in SYSTEMS:
        backoffice.hang(spec.id)
    data_ports = {system_id: backoffice.systems[system_id].port for system_id in ("smsc", "mms", "mail")}
    requests_by_port = {data_ports["smsc"]: b"HIST 13800000000\n",
                        data_ports["mms"]: b"\x00\x00\x00\x12msisdn=13800000000",
                        data_ports["mail"]: b"13800000000\n"}
    ports = sorted({p for system in backoffice.systems.values() for p in (system.port, system.ui_port)})
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
        net.connect(backoffice.systems["boss"].port)
    backoffice.reset()  # everything comes back, on the same ports
    assert all(system.running for system in backoffice.systems.values())


def test_set_latency_delays_every_answer_until_reset(backoffice, http, net):
    started = time.monotonic()
    http.post(wap_url(backoffice), data=WAP_QUERY, timeout=2)
    assert time.monotonic() - started < 0.25
    backoffice.set_latency("wap", 0.3)
    backoffice.set_latency("mail", 0.3)
    started = time.monotonic()
    assert http.post(wap_url(backoffice), data=WAP_QUERY, timeout=2).status_code == 200
    assert time.monotonic() - started >= 0.3
    with net.connect(backoffice.systems["mail"].port) as sock:
        started = time.monotonic()
        sock.sendall(b"13800000000\n")
        net.recv_exactly(sock, 80)
        assert time.monotonic() - started >= 0.3
    backoffice.reset()
    started = time.monotonic()
    http.post(wap_url(backoffice), data=WAP_QUERY, timeout=2)
    assert time.monotonic() - started < 0.25


def test_latency_given_at_construction_is_what_reset_restores(http):
    with BackOffice(latency={"roaming": 0.25}, systems=["roaming"], ports="free") as own:
        started = time.monotonic()
        http.get(own.systems["roaming"].ui_url("13800000000"), timeout=2)
        assert time.monotonic() - started >= 0.25
        own.set_latency("roaming", 0)
        own.reset()
        assert own.systems["roaming"].control.latency == 0.25


def test_taken_port_is_an_error_naming_system_and_port_and_undoes_the_start(backoffice, net):
    taken = backoffice.systems["payments"].port  # the running back office listens there
    office = BackOffice(systems=["boss", "payments"], ports={"payments": taken})
    with pytest.raises(BackOfficeError, match=rf"'payments'.*port {taken}") as caught:
        office.start()
    assert (caught.value.system_id, caught.value.port) == ("payments", taken)
    with pytest.raises(ConnectionRefusedError):
        net.connect(office.systems["boss"].port)  # boss was started by the failed call and closed again
    assert not office.systems["boss"].reserved  # and its free port given back


def test_taken_ui_port_of_a_socket_system_closes_its_data_port(net):
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    office = BackOffice(systems=["mms"], ports={"mms": (0, taken)})
    try:
        with pytest.raises(BackOfficeError, match=rf"'mms'.*port {taken}"):
            office.start()
        assert not office.systems["mms"].running and not office.systems["mms"].reserved
    finally:
        squatter.close()


def test_fixed_ports_are_the_catalogues_and_free_ports_differ_per_back_office():
    fixed = BackOffice(systems=["boss", "mail"])  # not started: a running demo may hold the fixed ports
    assert [(s.port, s.ui_port) for s in fixed.systems.values()] == [(8201, 8201), (8212, 8312)]
    assert BackOffice().control_endpoint.port == 8200
    with BackOffice(ports="free") as one, BackOffice(ports="free") as two:
        ports = [set(office.addresses.ports.values()) | set(office.addresses.ui_ports.values())
                 for office in (one, two)]
        assert len(ports[0]) == len(ports[1]) == 15 and not ports[0] & ports[1]
        assert one.addresses.control_port not in ports[0] | ports[1]
        assert one.control_url == f"http://127.0.0.1:{one.addresses.control_port}/faults"


def test_bad_arguments_are_refused(backoffice):
    with pytest.raises(ValueError, match="nosuch"):
        BackOffice(systems=["nosuch"])
    with pytest.raises(ValueError, match="nosuch"):
        BackOffice(latency={"nosuch": 1.0})
    with pytest.raises(ValueError):
        BackOffice(latency=-1)
    with pytest.raises(ValueError, match="ports must be 'fixed', 'free' or ports by system id"):
        BackOffice(ports="elsewhere")
    with pytest.raises(ValueError):
        backoffice.set_latency("boss", float("nan"))
    with pytest.raises(KeyError, match="nosuch"):
        backoffice.hang("nosuch")
    assert list(BackOffice(systems=["mail", "boss"]).systems) == ["boss", "mail"]  # catalogue order


def test_serve_forever_starts_blocks_and_stops_on_keyboard_interrupt(monkeypatch):
    own = BackOffice(systems=["wap"], ports="free")
    seen = []

    class Clock:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            seen.append(own.systems["wap"].running)
            raise KeyboardInterrupt

    monkeypatch.setattr(backoffice_module, "time", Clock)
    own.serve_forever()
    assert seen == [True] and not own.running and not own.systems["wap"].reserved


def test_systems_describe_where_they_listen(backoffice):
    boss, mail = backoffice.systems["boss"], backoffice.systems["mail"]
    assert (boss.id, boss.name, boss.protocol, boss.host) == ("boss", "BOSS billing & CRM", "soap", "127.0.0.1")
    assert boss.port == boss.ui_port == boss.spec.port and mail.port != mail.ui_port
    assert boss.base_url == f"http://127.0.0.1:{boss.port}"
    assert mail.ui_url("13800000000") == f"http://127.0.0.1:{mail.ui_port}/ui/customer/13800000000"
    assert mail.ui_url("1/2?x") == f"http://127.0.0.1:{mail.ui_port}/ui/customer/1%2F2%3Fx"
    addresses = backoffice.addresses
    assert (addresses.ports["boss"], addresses.ui_ports["mail"]) == (boss.port, mail.ui_port)
    assert addresses.control_port == backoffice.control_endpoint.port
