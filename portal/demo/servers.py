"""Loopback servers for the simulated systems, with the knobs the tests need.

Plain ``werkzeug.serving`` and ``socketserver`` are close, but not enough:

* ``TCP_NODELAY`` on every accepted socket: without it Nagle's algorithm and
  delayed ACKs add ~40 ms to every answer on a reused connection, and the
  benchmarks would measure the fake instead of the portal;
* HTTP/1.1 keep-alive: werkzeug's development handler closes the connection
  after every answer. :class:`KeepAliveHandler` buffers the request body
  (bounded) and the answer, always sends ``Content-Length`` and keeps the
  connection open, as a production back office would;
* a stop that is quick and complete even while requests hang: live connections
  and handler threads are recorded, sockets shut down and threads joined;
* a port that is taken raises :class:`BindFailed` (werkzeug calls ``sys.exit``);
* latency and "hang" are applied inside the handler, before answering, by the
  system's :class:`Control`, so a client really waits;
* injected faults (:mod:`portal.demo.faults`) are looked up per request, after
  the request is read and before it is answered, by the listener's ``faults``
  book (data listeners only).
"""

from __future__ import annotations

import io
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

if TYPE_CHECKING:  # a run-time import would cycle: faults -> fault_payloads -> socket_systems -> servers
    from portal.demo.faults import FaultBook

log = logging.getLogger(__name__)

WSGIApp = Callable[..., Any]

POLL_INTERVAL_S = 0.1  # how fast an accept loop notices shutdown()
IDLE_TIMEOUT_S = 30.0  # an idle keep-alive connection is closed after this
MAX_REQUEST_BYTES = 1_000_000


class BindFailed(Exception):
    """A server could not listen on its port (usually: already in use)."""

    def __init__(self, port: int, reason: str) -> None:
        self.port = port
        self.reason = reason
        super().__init__(f"port {port}: {reason}")


class Control:
    """Latency and hang switch shared by the servers of one system.

    Every handler calls :meth:`wait_turn` after reading a request and before
    answering. ``close()`` (the system is stopping) wakes every waiting thread
    and tells it to drop its connection, so no thread is left behind.
    """

    def __init__(self, latency: float = 0.0) -> None:
        self._cond = threading.Condition()
        self._latency = latency
        self._hanging = False
        self._closed = True
        self._generation = 0

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._cond:
            self._latency = seconds

    @property
    def hanging(self) -> bool:
        return self._hanging

    def set_hang(self, on: bool) -> None:
        with self._cond:
            self._hanging = on
            self._cond.notify_all()

    def open(self) -> None:
        with self._cond:
            self._closed = False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._generation += 1
            self._cond.notify_all()

    def wait_turn(self) -> bool:
        """Block while hanging, then sleep the latency; False if the system stopped meanwhile."""
        with self._cond:
            if self._closed:
                return False
            generation = self._generation
            while self._hanging and self._generation == generation:
                self._cond.wait()
            deadline = time.monotonic() + self._latency
            while self._generation == generation:
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._cond.wait(left)
            return False

    def notify(self) -> None:
        """Wake every :meth:`wait_while` so it re-checks its predicate (faults were cleared)."""
        with self._cond:
            self._cond.notify_all()

    def wait_while(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Block while ``predicate()`` holds, at most ``timeout`` s; False if the system stopped meanwhile.

        ``predicate`` is re-checked whenever :meth:`notify` (or a stop) wakes the waiters.
        """
        with self._cond:
            if self._closed:
                return False
            generation = self._generation
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._generation == generation and predicate():
                if deadline is None:
                    self._cond.wait()
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._generation == generation


class _Tracking:
    """Mixin for socketserver servers: TCP_NODELAY, live connections and threads recorded."""

    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    control: Control
    faults: FaultBook | None
    socket: socket.socket

    def _init_tracking(self, control: Control, faults: FaultBook | None) -> None:
        self.control = control
        self.faults = faults
        self._live_lock = threading.Lock()
        self._live_conns: set[socket.socket] = set()
        self._live_threads: set[threading.Thread] = set()
        self._closing = False

    def server_bind(self) -> None:
        try:
            super().server_bind()  # type: ignore[misc]
        except OSError as exc:
            raise BindFailed(self.server_address[1], exc.strerror or str(exc)) from exc  # type: ignore[attr-defined]

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = self.socket.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._live_lock:
            self._live_conns.add(conn)
        return conn, addr

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        # Named after both ends, so a test can find the thread serving its own connection.
        name = f"demo-{self.server_address[1]}-conn-{client_address[1]}"  # type: ignore[attr-defined]
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=name, daemon=True)
        with self._live_lock:
            closing = self._closing
            if not closing:
                self._live_threads.add(thread)
        if closing:  # accepted while stop() was running: refuse it
            self.shutdown_request(request)  # type: ignore[attr-defined]
            return
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)  # type: ignore[attr-defined]
        except OSError:
            pass  # the client or stop() closed the connection
        except Exception:
            log.exception("simulated system on port %s failed", self.server_address[1])  # type: ignore[attr-defined]
        finally:
            self.shutdown_request(request)  # type: ignore[attr-defined]
            with self._live_lock:
                self._live_threads.discard(threading.current_thread())

    def shutdown_request(self, request: socket.socket) -> None:
        with self._live_lock:
            self._live_conns.discard(request)
        super().shutdown_request(request)  # type: ignore[misc]

    def drop_connections(self) -> list[threading.Thread]:
        """Shut every open connection down (wakes blocked reads); returns the threads to join."""
        with self._live_lock:
            self._closing = True
            conns, threads = list(self._live_conns), list(self._live_threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return threads


class HttpServer(_Tracking, ThreadedWSGIServer):
    """werkzeug's threaded WSGI server with the changes listed in the module docstring."""

    def __init__(self, host: str, port: int, app: WSGIApp, control: Control,
                 faults: FaultBook | None = None) -> None:
        self._init_tracking(control, faults)
        super().__init__(host, port, app, handler=KeepAliveHandler)


class TcpServer(_Tracking, socketserver.ThreadingTCPServer):
    """A threaded TCP server for the raw-socket systems."""

    request_queue_size = 64

    def __init__(self, host: str, port: int, handler: type[socketserver.BaseRequestHandler],
                 control: Control, faults: FaultBook | None = None) -> None:
        self._init_tracking(control, faults)
        super().__init__((host, port), handler)


class KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive: whole request body read first, whole answer sent with a length."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S

    def run_wsgi(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if not self.server.control.wait_turn():  # type: ignore[attr-defined]
            self.close_connection = True  # stopped while waiting: drop without an answer
            return
        faults: FaultBook | None = self.server.faults  # type: ignore[attr-defined]
        fault = faults.take(self.path.encode("latin-1", "replace") + b"\n" + body) if faults else None
        if fault is not None and not faults.prelude(fault, self.connection, [self.rfile]):  # type: ignore[union-attr]
            self.close_connection = True  # hung and released, reset, or stopped: no answer
            return
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))

        def normal() -> tuple[str, list[tuple[str, str]], bytes]:
            # Called lazily: most faults replace the answer; some (wrong_charset, xml_bomb) rework it.
            return _call_app(self.server.app, environ)

        if fault is None:
            self._send(*normal())
            return
        reply = faults.http_answer(fault, normal)  # type: ignore[union-attr]
        self._send(reply.status, reply.headers, reply.body, close=reply.close, length=reply.length)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send("411 Length Required", [], b"chunked request bodies are not accepted\n", close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self._send("413 Content Too Large" if length > 0 else "400 Bad Request", [],
                       b"bad Content-Length\n", close=True)
            return None
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return None
        return body

    def _send(self, status: str, headers: list[tuple[str, str]], payload: bytes | Iterable[bytes],
              close: bool = False, length: int | None = None) -> None:
        """Send one answer; a streamed ``payload`` (chunks) declares ``length``, or none if None."""
        if isinstance(payload, bytes):
            length = len(payload)
        if close or length is None:  # without a length, only closing the connection ends the body
            self.close_connection = True
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            for chunk in [payload] if isinstance(payload, bytes) else payload:
                self.wfile.write(chunk)  # a client that gives up mid-stream ends this with an OSError
        self.wfile.flush()

    def version_string(self) -> str:
        return "DemoTel-BackOffice/1.0"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, getattr(self, "path", "?"), code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def _call_app(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI app to completion; the simulated answers are small, so buffer them."""
    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        started["status"], started["headers"] = status, list(headers)
        return chunks.append

    try:
        result = app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return started["status"], started["headers"], b"".join(chunks)
    except Exception:
        log.exception("simulated system failed on %s", environ.get("PATH_INFO"))
        return "500 Internal Server Error", [("Content-Type", "text/plain")], b"internal error\n"


class Listener:
    """One listening server and the thread running its accept loop."""

    def __init__(self, server: HttpServer | TcpServer) -> None:
        self.server = server
        self.port: int = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_S},
                                        name=f"demo-{self.port}-accept", daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        """Refuse new connections, drop open ones, join every thread until ``deadline`` (monotonic)."""
        self.server.shutdown()
        self.server.server_close()
        threads = self.server.drop_connections()
        for thread in [self._thread, *threads]:
            thread.join(max(0.0, deadline - time.monotonic()))
        leaked = [t.name for t in threads if t.is_alive()]
        if leaked:
            log.warning("port %s: %d handler thread(s) still running after stop", self.port, len(leaked))


def http_listener(host: str, port: int, app: WSGIApp, control: Control,
                  faults: FaultBook | None = None) -> Listener:
    """Bind ``host:port`` (raises :class:`BindFailed`) and serve ``app`` in a thread."""
    return Listener(HttpServer(host, port, app, control, faults))


def tcp_listener(host: str, port: int, handler: type[socketserver.BaseRequestHandler], control: Control,
                 faults: FaultBook | None = None) -> Listener:
    """Bind ``host:port`` (raises :class:`BindFailed`) and serve ``handler`` in a thread."""
    return Listener(TcpServer(host, port, handler, control, faults))
