"""Tiny loopback servers that act out one contract scenario each (see :mod:`portal.adapters.testing`).

They make a system misbehave on purpose — hang, drip, reset, flood, send
garbage or hostile XML — so a kind can be tested without the simulated back
office. Every thread they start is named ``contract-*``, so the suite can tell
its own threads from ones an adapter leaked.

What the system *says* (its answer document, its "no such customer" answer,
its login page) comes from the suite's hooks; the servers only decide *how*
it is delivered.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

THREAD_PREFIX = "contract-"
HOST = "127.0.0.1"
DRIP_INTERVAL_S = 0.05
HANG_LIMIT_S = 30.0  # a hanging scenario lets go by itself eventually, even if nobody stops it
LOGIN_PATH = "/login"
SESSION_COOKIE = "contract_session"


@dataclass
class Delivery:
    """How one answer is delivered: its bytes and what goes wrong on the way."""

    body: bytes = b""
    mode: str = "normal"  # normal | hang | drip | reset | stream | close
    stream_bytes: int = 0  # for ``stream``: how much to send (the body is repeated)
    prefix: bytes = b""  # for ``stream``: sent once first (e.g. a length prefix announcing the flood)
    content_type: str | None = None  # HTTP only; None: the suite's default
    headers: dict[str, str] = field(default_factory=dict)  # HTTP only, e.g. Set-Cookie
    status: int = 200  # HTTP only, for ``normal`` deliveries (e.g. 302 with a Location header)


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[["Seen"], Delivery]


@dataclass
class ServerState:
    responder: Responder
    released: threading.Event = field(default_factory=threading.Event)
    seen: list[Seen] = field(default_factory=list)
    accepted: int = 0
    sent: int = 0  # body bytes sent by ``stream`` deliveries: shows a client stopped reading early
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN: what a crashing system does to its clients."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def _name_thread(kind: str) -> None:
    threading.current_thread().name = f"{THREAD_PREFIX}{kind}"


# -- HTTP ------------------------------------------------------------------------------


class ContractHttpServer:
    """An HTTP/1.1 keep-alive server; ``static`` GET paths (e.g. a WSDL) are always served as they are."""

    session = "s1"  # the login scenario's valid session cookie value; change it to forget every session
    logins = 0  # successful logins seen by the login scenario

    def __init__(self, responder: Responder, *, content_type: str, static: dict[str, tuple[str, bytes]]) -> None:
        self.state = ServerState(responder)
        self.static = static
        self.default_content_type = content_type
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                _name_thread("http-conn")
                with outer.state.lock:
                    outer.state.accepted += 1
                super().setup()

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                outer.state.note(seen)
                path = self.path.split("?", 1)[0]
                if self.command == "GET" and path in outer.static:
                    content_type, data = outer.static[path]
                    self._send(200, content_type, data)
                    return
                outer._deliver(self, outer.state.responder(seen))

            def _send(self, status: int, content_type: str, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.handler = Handler
        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{THREAD_PREFIX}http", daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _deliver(self, handler: BaseHTTPRequestHandler, delivery: Delivery) -> None:
        state = self.state
        content_type = delivery.content_type or self.default_content_type
        mode = delivery.mode
        if mode == "hang":
            state.released.wait(HANG_LIMIT_S)
            handler.close_connection = True
            return
        try:
            if mode == "normal":
                handler._send(delivery.status, content_type, delivery.body, delivery.headers)  # type: ignore[attr-defined]
                return
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            if mode == "stream":
                handler.send_header("Connection", "close")  # no length: the body ends when we close
            else:
                handler.send_header("Content-Length", str(len(delivery.body)))
            handler.end_headers()
            handler.wfile.flush()
            if mode == "drip":
                for i in range(len(delivery.body)):
                    if state.released.wait(DRIP_INTERVAL_S):
                        break
                    handler.wfile.write(delivery.body[i : i + 1])
                    handler.wfile.flush()
            elif mode == "reset":
                handler.wfile.write(delivery.body[: len(delivery.body) // 2])
                handler.wfile.flush()
                _reset(handler.connection)
            elif mode == "stream":
                _stream(handler.connection.sendall, delivery, state)
            else:  # close: the whole body, then the connection ends
                handler.wfile.write(delivery.body)
                handler.wfile.flush()
            handler.close_connection = True
        except OSError:
            handler.close_connection = True  # the client gave up, as it should

    def stop(self) -> None:
        self.state.released.set()
        self.server.shutdown()
        self.server.server_close()


def _stream(send: Callable[[bytes], Any], delivery: Delivery, state: ServerState) -> None:
    if delivery.prefix:
        send(delivery.prefix)
    chunk = (delivery.body or b"A") * max(1, 65536 // max(1, len(delivery.body or b"A")))
    while state.sent < delivery.stream_bytes and not state.released.is_set():
        send(chunk)
        with state.lock:
            state.sent += len(chunk)


# -- raw TCP ---------------------------------------------------------------------------


class ContractTcpServer:
    """Reads a request until ``request_complete`` says so, then delivers; repeats on the same connection.

    A ``close`` delivery (and any delivery that is not ``normal``) ends the
    connection afterwards, so close- or line-framed clients see where it ends.
    """

    def __init__(self, responder: Responder, *, request_complete: Callable[[bytes], bool]) -> None:
        self.state = ServerState(responder)
        self.request_complete = request_complete
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, name=f"{THREAD_PREFIX}tcp", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"tcp://{HOST}:{self.port}"

    def _accept(self) -> None:
        while not self.state.released.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.state.lock:
                self.state.accepted += 1
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), name=f"{THREAD_PREFIX}tcp-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        state = self.state
        try:
            conn.settimeout(HANG_LIMIT_S)
            while not state.released.is_set():
                request = self._read_request(conn)
                if request is None:
                    return
                seen = Seen("REQUEST", "", {}, request)
                state.note(seen)
                delivery = state.responder(seen)
                if not self._deliver(conn, delivery):
                    return
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _read_request(self, conn: socket.socket) -> bytes | None:
        data = b""
        while not self.request_complete(data):
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
            if len(data) > 1_000_000:
                return None
        return data

    def _deliver(self, conn: socket.socket, delivery: Delivery) -> bool:
        """Send one answer; ``True`` when the connection may carry another request."""
        state = self.state
        mode = delivery.mode
        if mode == "hang":
            state.released.wait(HANG_LIMIT_S)
            return False
        if mode == "normal":
            conn.sendall(delivery.body)
            return True
        if mode == "drip":
            for i in range(len(delivery.body)):
                if state.released.wait(DRIP_INTERVAL_S):
                    return False
                conn.sendall(delivery.body[i : i + 1])
        elif mode == "reset":
            conn.sendall(delivery.body[: len(delivery.body) // 2])
            _reset(conn)
            return False
        elif mode == "stream":
            _stream(conn.sendall, delivery, state)
        else:  # close
            conn.sendall(delivery.body)
        conn.shutdown(socket.SHUT_WR)
        return False

    def stop(self) -> None:
        self.state.released.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.state.lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released): connecting is refused."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port
