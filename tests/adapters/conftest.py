"""Tiny loopback servers whose answers each test scripts, and adapter builders.

The real simulated back office is exercised in ``test_backoffice_adapters.py``;
these servers let unit tests produce what a well-behaved system never does:
hangs, drips, oversized or hostile answers, forgetful login sessions.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from portal.adapters.boundary import UNRESTRICTED, Boundary
from portal.adapters.registry import build_adapter


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    drip: float | None = None  # seconds between single body bytes
    content_type: str = "text/html; charset=utf-8"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int = 0


Handler = Callable[[Seen], Reply]


class ScriptedHttpServer:
    """``routes[(method, path)] = handler``; ``seen`` records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.seen: list[Seen] = []
        self.released = threading.Event()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                seen = Seen(self.command, self.path, dict(self.headers.items()), body, self.client_address[1])
                outer.seen.append(seen)
                handler = outer.routes.get((self.command, path))
                reply = handler(seen) if handler else Reply(404, b"no route")
                if reply.delay and outer.released.wait(reply.delay):
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    if reply.drip is None:
                        self.wfile.write(reply.body)
                    else:
                        for i in range(len(reply.body)):
                            if outer.released.wait(reply.drip):
                                return
                            self.wfile.write(reply.body[i : i + 1])
                            self.wfile.flush()
                except OSError:
                    pass  # the client gave up, as it should

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, method: str, path: str, handler: Handler | Reply) -> None:
        self.routes[(method, path)] = handler if callable(handler) else (lambda _seen, r=handler: r)

    def start(self) -> ScriptedHttpServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def web():
    server = ScriptedHttpServer().start()
    yield server
    server.stop()


class ScriptedTcpServer:
    """Runs ``handler(conn)`` for every connection; counts connections opened and closed by the client."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.released = threading.Event()
        self.accepted = 0
        self.client_closed = 0
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> ScriptedTcpServer:
        self._accept_thread.start()
        return self

    def _accept(self) -> None:
        while not self.released.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.handler(conn)
                # Wait for the client to close its end: proves the adapter does not leak sockets.
                conn.settimeout(5)
                while conn.recv(1024):
                    pass
                self.client_closed += 1
            except OSError:
                self.client_closed += 1

    def wait_closed(self, count: int, timeout: float = 3.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.client_closed >= count:
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        self.released.set()
        self.listener.close()


@pytest.fixture
def tcp():
    servers: list[ScriptedTcpServer] = []

    def make(handler: Callable[[socket.socket], None]) -> ScriptedTcpServer:
        server = ScriptedTcpServer(handler).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def recv_until(conn: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def make_adapter():
    """Build an adapter from a document; ``id``/``name`` default to a test system.

    ``boundary`` (default: unrestricted) is what an app would build it under, e.g. with its
    credentials store or WSDL cache folder."""

    built = []

    def make(kind: str, boundary: Boundary = UNRESTRICTED, **doc: Any):
        data = {"id": "testsys", "name": "Test system", "kind": kind, **doc}
        adapter = build_adapter(data, "test.toml", boundary)
        built.append(adapter)
        return adapter

    yield make
    for adapter in built:
        adapter.close()


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
