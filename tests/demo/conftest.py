"""Helpers for the simulated back office's own tests (the ``backoffice`` fixture is in tests/conftest.py).

The tests run with ``--import-mode=importlib``, so shared helpers travel as the ``net`` and ``wire``
fixtures. The back office listens on free ports: take them from ``backoffice.systems[id].port``
(``.ui_port``, ``.base_url``), never from the catalogue's fixed ports.
"""

from __future__ import annotations

import socket
import threading
import time
from functools import partial
from types import SimpleNamespace

import pytest
import requests

#: How each HTTP system is asked about a customer, for the fault tests: (path, body; None: GET
#: with ?msisdn=). The socket systems' framing is in :func:`socket_request`.
HTTP_ASKS = {
    "loyalty": ("/member", None),
    "complaints": ("/tickets", None),
    "rbt": ("/rbt/subscriber", None),
    "vas": ("/vas/subscriptions", '<v:query xmlns:v="urn:demotel:vas:v1"><v:msisdn>{n}</v:msisdn></v:query>'),
    "wap": ("/wap/profile", '<w:query xmlns:w="urn:demotel:wap:v1"><w:msisdn>{n}</w:msisdn></w:query>'),
    "boss": ("/boss", ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                       '<b:GetSubscriber xmlns:b="urn:demotel:boss:v1"><b:msisdn>{n}</b:msisdn>'
                       "</b:GetSubscriber></soap:Body></soap:Envelope>")),
}
SOCKET_SYSTEMS = ("smsc", "mms", "mail")


@pytest.fixture
def http():
    """A requests session that never goes through a proxy from the environment (loopback only)."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def connect(port: int, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_line(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError(f"connection closed after {buf!r}")
        buf += chunk
    return buf


def connection_threads(port: int, client: socket.socket | None = None) -> list[threading.Thread]:
    """Live handler threads of the server on ``port`` (only the one serving ``client``, if given)."""
    prefix = f"demo-{port}-conn-"
    name = f"{prefix}{client.getsockname()[1]}" if client is not None else None
    return [t for t in threading.enumerate()
            if t.is_alive() and (t.name == name if name else t.name.startswith(prefix))]


def wait_until(predicate, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def http_request(system_id: str, number: str) -> bytes:
    """The raw HTTP/1.1 request asking ``system_id`` about ``number``."""
    path, body = HTTP_ASKS[system_id]
    if body is None:
        return f"GET {path}?msisdn={number} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    payload = body.format(n=number).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload


def any_request(system_id: str, number: str) -> bytes:
    """The raw request asking ``system_id`` about ``number``, HTTP or socket alike."""
    return http_request(system_id, number) if system_id in HTTP_ASKS else socket_request(system_id, number)


def ask_http(office, session: requests.Session, system_id: str, number: str = "13800000000",
             **kwargs) -> requests.Response:
    path, body = HTTP_ASKS[system_id]
    url = f"{office.systems[system_id].base_url}{path}"
    kwargs.setdefault("timeout", 5)
    if body is None:
        return session.get(url, params={"msisdn": number}, **kwargs)
    return session.post(url, data=body.format(n=number).encode(), headers={"Content-Type": "text/xml"}, **kwargs)


def socket_request(system_id: str, number: str) -> bytes:
    if system_id == "smsc":
        return f"HIST {number}\n".encode()
    if system_id == "mms":
        payload = f"msisdn={number}".encode("gbk")
        return len(payload).to_bytes(4, "big") + payload
    return f"{number}\n".encode()


def read_socket_answer(system_id: str, sock: socket.socket) -> bytes:
    """One answer in the system's framing: a line, a length-prefixed frame (prefix kept), 80 bytes."""
    if system_id == "smsc":
        return recv_line(sock)
    if system_id == "mms":
        prefix = recv_exactly(sock, 4)
        return prefix + recv_exactly(sock, int.from_bytes(prefix, "big"))
    return recv_exactly(sock, 80)


def ask_socket(office, system_id: str, number: str = "13800000000", timeout: float = 2.0) -> bytes:
    with connect(office.systems[system_id].port, timeout) as sock:
        sock.sendall(socket_request(system_id, number))
        return read_socket_answer(system_id, sock)


@pytest.fixture
def wire(backoffice_session) -> SimpleNamespace:
    """Ask a system of the session's back office about a customer in its own protocol:
    wire.http(session, id, n), wire.socket(id, n), wire.port(id), ..."""
    office = backoffice_session
    return SimpleNamespace(http=partial(ask_http, office), socket=partial(ask_socket, office),
                           http_request=http_request, socket_request=socket_request, request=any_request,
                           read_socket_answer=read_socket_answer, port=lambda system_id: office.systems[system_id].port)


@pytest.fixture
def net() -> SimpleNamespace:
    """Raw-socket and thread helpers: net.connect, net.recv_exactly, net.recv_line, ..."""
    return SimpleNamespace(connect=connect, recv_exactly=recv_exactly, recv_line=recv_line,
                           connection_threads=connection_threads, wait_until=wait_until)
