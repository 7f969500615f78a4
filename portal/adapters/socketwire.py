"""The wire side of the ``socket`` kind: connect, frame, read, reuse (docs/adapters.md).

Framing (how the end of an answer is known):

* ``line``   - read until ``terminator``. A peer that closes after sending is accepted too.
* ``length`` - a length prefix on the request and on the answer: ``length_bytes``
  unsigned binary bytes (1, 2 or 4, big or little endian), or with
  ``length_format = "ascii"`` that many zero-padded decimal digits.
* ``fixed``  - the answer is exactly ``record_length`` bytes.
* ``close``  - the answer is everything until the server closes the connection.
* ``idle``   - the answer is everything until no byte has arrived for
  ``idle_gap_s``. The gap is part of the lookup's time: a gap cut short by the
  deadline is a timeout, because the answer may not be complete.

Every blocking step (connect, send, each ``recv``) gets only what is left of
the lookup's deadline, so a system that drips bytes cannot stretch a lookup.
Reads are bounded by ``max_bytes``.

With a :class:`~portal.adapters.socketpool.ConnectionPool` a connection goes
back to the pool only after a clean exchange (a complete answer and nothing
left over); anything else closes it. A pooled connection that the server has
dropped in the meantime fails before a single answer byte arrives; that
exchange is retried once on a fresh connection — safe, since lookups are reads.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from portal.adapters.base import RAW_EXCERPT_CHARS, LookupContext
from portal.adapters.boundary import active_scope
from portal.adapters.egress import open_connection
from portal.adapters.socketpool import ConnectionPool
from portal.errors import (
    BackendError,
    BackendProtocolError,
    BackendTimeout,
    BackendUnavailable,
)

if TYPE_CHECKING:  # pragma: no cover
    from portal.adapters.socket import SocketOptions

RECV_CHUNK = 65536
HEAD_BYTES = RAW_EXCERPT_CHARS * 4  # what the raw excerpt of a failed exchange can show


def frame_request(opts: SocketOptions, payload: bytes) -> bytes:
    """The request as it goes on the wire: with its length prefix for ``length`` framing."""
    if opts.framing != "length":
        return payload
    if opts.length_format == "ascii":
        if len(payload) >= 10**opts.length_bytes:
            raise BackendProtocolError(f"request longer than a {opts.length_bytes}-digit length prefix allows")
        return str(len(payload)).zfill(opts.length_bytes).encode("ascii") + payload
    if len(payload) >= 1 << (8 * opts.length_bytes):
        raise BackendProtocolError(f"request longer than a {opts.length_bytes}-byte length prefix allows")
    return len(payload).to_bytes(opts.length_bytes, opts.byteorder) + payload


class _StaleConnection(Exception):
    """A reused connection was already dead: no byte of the answer arrived."""


def exchange(
    opts: SocketOptions, payload: bytes, context: LookupContext, pool: ConnectionPool | None = None
) -> bytes:
    """Send one framed request and read one framed answer; the socket is closed or pooled, never leaked."""
    framed = frame_request(opts, payload)
    if pool is not None:
        sock = pool.acquire()
        if sock is not None:
            try:
                return _converse(sock, framed, opts, context, pool, reused=True)
            except _StaleConnection:
                pass  # the server dropped it while idle: once more, on a fresh connection
    return _converse(connect(opts.host, opts.port, context), framed, opts, context, pool, reused=False)


def connect(host: str, port: int, context: LookupContext) -> socket.socket:
    try:
        sock = _open(host, port, context.remaining())
    except BackendError:
        raise
    except TimeoutError as exc:
        raise BackendTimeout(context.timeout_message()) from exc
    except ConnectionRefusedError as exc:
        raise BackendUnavailable("connection refused") from exc
    except OSError as exc:
        raise BackendUnavailable(f"cannot connect: {exc.strerror or exc}") from exc
    try:
        # Request and answer are small and written at once: Nagle would only add delay.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        sock.close()
        raise BackendUnavailable("connection closed by the system") from None
    return sock


def _open(host: str, port: int, timeout: float) -> socket.socket:
    """Connect; under an egress policy only to the addresses it allows, checked after resolution."""
    scope = active_scope()
    policy = scope.boundary.egress if scope is not None else None
    if scope is None or policy is None:
        return socket.create_connection((host, port), timeout=timeout)
    return open_connection(policy.resolve_and_check(host, port, scope.owner), timeout)


def _converse(
    sock: socket.socket,
    framed: bytes,
    opts: SocketOptions,
    context: LookupContext,
    pool: ConnectionPool | None,
    *,
    reused: bool,
) -> bytes:
    reader = FrameReader(sock, context, opts.max_bytes)
    clean = False
    try:
        sock.settimeout(context.remaining())
        sock.sendall(framed)
        data = reader.read(opts)
        clean = not reader.buffer and not reader.eof
        context.record_raw(data, opts.charset)
        return data
    except BackendError as exc:
        if reused and reader.received == 0 and reader.eof and not isinstance(exc, BackendTimeout):
            raise _StaleConnection() from exc
        _record_head(reader, opts, context)
        raise
    except TimeoutError as exc:
        _record_head(reader, opts, context)
        raise BackendTimeout(context.timeout_message()) from exc
    except (ConnectionResetError, BrokenPipeError) as exc:
        if reused and reader.received == 0:
            raise _StaleConnection() from exc
        _record_head(reader, opts, context)
        raise BackendUnavailable("connection closed by the system before it answered") from exc
    except OSError as exc:
        _record_head(reader, opts, context)
        raise BackendUnavailable(f"connection failed: {exc.strerror or exc}") from exc
    finally:
        if clean and pool is not None:
            pool.release(sock)
        else:
            sock.close()


def _record_head(reader: FrameReader, opts: SocketOptions, context: LookupContext) -> None:
    if reader.head:
        context.record_raw(bytes(reader.head), opts.charset)


class FrameReader:
    """Reads framed answers from a connected socket within a deadline and a size limit."""

    def __init__(self, sock: socket.socket, context: LookupContext, max_bytes: int) -> None:
        self.sock = sock
        self.context = context
        self.max_bytes = max_bytes
        self.buffer = bytearray()
        self.eof = False
        self.received = 0  # bytes read off the socket, framing included
        self.head = bytearray()  # the first bytes received, for the raw excerpt of a failure

    def read(self, opts: SocketOptions) -> bytes:
        framing = opts.framing
        if framing == "line":
            return self.read_line(opts.terminator.encode(opts.charset))
        if framing == "length":
            header = self.read_exactly(opts.length_bytes)
            size = parse_length(header, opts.length_format, opts.byteorder)
            if size > self.max_bytes:
                raise BackendProtocolError(f"response larger than {self.max_bytes} bytes")
            return self.read_exactly(size)
        if framing == "fixed":
            assert opts.record_length is not None  # SocketOptions guarantees it
            return self.read_exactly(opts.record_length)
        if framing == "close":
            return self.read_to_close()
        return self.read_until_idle(opts.idle_gap_s)

    def _recv(self, timeout: float | None = None) -> None:
        self.sock.settimeout(self.context.remaining() if timeout is None else timeout)
        chunk = self.sock.recv(RECV_CHUNK)
        if not chunk:
            self.eof = True
            return
        self.received += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.buffer += chunk

    def _check_size(self) -> None:
        if len(self.buffer) > self.max_bytes:
            raise BackendProtocolError(f"response larger than {self.max_bytes} bytes")

    def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if self.eof:
                raise BackendProtocolError(f"answer cut off after {len(self.buffer)} of {size} bytes")
            self._recv()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_line(self, terminator: bytes) -> bytes:
        start = 0
        while True:
            index = self.buffer.find(terminator, start)
            if index >= 0:
                if index > self.max_bytes:
                    raise BackendProtocolError(f"response larger than {self.max_bytes} bytes")
                line = bytes(self.buffer[:index])
                del self.buffer[: index + len(terminator)]
                return line
            self._check_size()
            if self.eof:
                if self.buffer:
                    line = bytes(self.buffer)  # the peer closed instead of terminating: accept
                    self.buffer.clear()
                    return line
                raise BackendProtocolError("connection closed without an answer")
            # Only the tail can hold a terminator split across two reads.
            start = max(0, len(self.buffer) - len(terminator) + 1)
            self._recv()

    def read_to_close(self) -> bytes:
        while not self.eof:
            self._recv()
            self._check_size()
        return self._take_all()

    def read_until_idle(self, gap: float) -> bytes:
        while not self.buffer and not self.eof:
            self._recv()  # the first byte may take the whole deadline
        self._check_size()
        while not self.eof:
            left = self.context.remaining()
            wait = min(gap, left)
            try:
                self._recv(timeout=wait)
            except TimeoutError:
                if wait < gap:  # the deadline, not the silence, ended the wait: maybe incomplete
                    raise BackendTimeout(self.context.timeout_message()) from None
                break
            self._check_size()
        return self._take_all()

    def _take_all(self) -> bytes:
        if not self.buffer:
            raise BackendProtocolError("connection closed without an answer")
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def parse_length(header: bytes, length_format: str, byteorder: str) -> int:
    """The size in a length prefix: binary unsigned, or zero-padded ASCII digits."""
    if length_format == "ascii":
        text = header.decode("ascii", errors="replace").strip()
        if not text.isdigit():
            raise BackendProtocolError(f"bad length prefix {header[:16]!r}: expected ASCII digits")
        return int(text)
    return int.from_bytes(header, byteorder)  # type: ignore[arg-type]
