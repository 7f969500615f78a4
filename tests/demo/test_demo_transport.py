"""What the simulated systems promise on the wire: keep-alive with lengths, TCP_NODELAY, bounded bodies."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.backoffice

QUERY = b'<v:query xmlns:v="urn:demotel:vas:v1"><v:msisdn>13800000000</v:msisdn></v:query>'


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP response: (head, body), the body read by Content-Length."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(length - len(body))
    assert len(body) == length  # nothing beyond the declared length on the connection
    return head, body


def test_http_systems_keep_the_connection_open_and_always_send_a_length(backoffice, net):
    with net.connect(backoffice.systems["vas"].port) as sock:
        for _ in range(3):
            sock.sendall(b"POST /vas/subscriptions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(QUERY), QUERY))
            head, body = read_response(sock)
            assert head.startswith(b"HTTP/1.1 200 ") and b"connection: close" not in head.lower()
            assert body.startswith(b"<?xml") and b"<vas:subscriptions" in body
        sock.sendall(b"GET /ui/customer/13800000000 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        head, body = read_response(sock)
        assert b"connection: close" in head.lower() and b"Value-added services" in body
        assert sock.recv(10) == b""  # and then it is closed, as asked


def test_accepted_sockets_have_nagle_disabled(backoffice, net):
    server = backoffice.systems["vas"]._listeners[0].server
    with net.connect(backoffice.systems["vas"].port) as sock:
        sock.sendall(b"GET /ui/customer/13800000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(sock)
        [accepted] = [c for c in server._live_conns if c.getpeername() == sock.getsockname()]
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.parametrize("headers, status", [
    (b"Content-Length: 5000000\r\n", b"413"),
    (b"Content-Length: nope\r\n", b"400"),
    (b"Transfer-Encoding: chunked\r\n", b"411"),
])
def test_unusable_bodies_are_refused_and_the_connection_closed(backoffice, net, headers, status):
    with net.connect(backoffice.systems["vas"].port) as sock:
        sock.sendall(b"POST /vas/subscriptions HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        head, _ = read_response(sock)
        assert head.split(b" ")[1] == status and b"connection: close" in head.lower()
