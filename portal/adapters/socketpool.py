"""Open TCP connections kept for reuse by one socket adapter (``keep_alive = true``).

Many raw-TCP systems accept several requests per connection; reconnecting for
every lookup costs a handshake (and, on real networks, a round trip or two).
The pool keeps at most ``pool_size`` *idle* connections per adapter; a burst of
concurrent lookups beyond that opens extra connections that are closed after
use, so the pool never blocks a lookup and never grows without bound.

A connection that sat idle longer than ``pool_idle_s`` is closed rather than
reused: servers drop idle connections (the demo systems after 30 s), and a
connection the server has already closed would cost the next lookup a failed
exchange. A single daemon thread sweeps every pool for such connections, so
an idle portal does not hold half-closed sockets; it exits when the last pool
closes. A connection that turns out to be dead anyway is detected by the
exchange (see :mod:`portal.adapters.socketwire`), which retries once on a
fresh socket.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
import weakref
from collections import deque

log = logging.getLogger(__name__)

REAPER_THREAD_NAME = "portal-socket-reaper"
REAPER_INTERVAL_S = 1.0


class ConnectionPool:
    """Idle connections to one ``(host, port)``, most recently used first. Thread-safe."""

    def __init__(self, size: int, idle_s: float) -> None:
        self.size = size
        self.idle_s = idle_s
        self._idle: deque[tuple[socket.socket, float]] = deque()
        self._lock = threading.Lock()
        self._closed = False
        _reaper.register(self)

    def acquire(self) -> socket.socket | None:
        """A usable idle connection, or ``None`` (the caller connects afresh)."""
        stale: list[socket.socket] = []
        found: socket.socket | None = None
        now = time.monotonic()
        with self._lock:
            while self._idle:
                sock, since = self._idle.pop()  # LIFO: the warmest connection first
                if now - since > self.idle_s or not _looks_open(sock):
                    stale.append(sock)
                    continue
                found = sock
                break
        for sock in stale:
            _close(sock)
        return found

    def release(self, sock: socket.socket) -> None:
        """Give back a connection whose last exchange ended cleanly."""
        with self._lock:
            if not self._closed and len(self._idle) < self.size:
                self._idle.append((sock, time.monotonic()))
                return
        _close(sock)

    def reap(self) -> None:
        """Close connections idle for longer than ``idle_s``."""
        now = time.monotonic()
        with self._lock:
            keep = deque((s, t) for s, t in self._idle if now - t <= self.idle_s)
            old = [s for s, t in self._idle if now - t > self.idle_s]
            self._idle = keep
        for sock in old:
            _close(sock)

    def close(self) -> None:
        """Close every idle connection; connections in use are closed when they come back."""
        with self._lock:
            self._closed = True
            idle = [s for s, _ in self._idle]
            self._idle.clear()
        for sock in idle:
            _close(sock)
        _reaper.unregister(self)

    def __len__(self) -> int:
        return len(self._idle)


def _looks_open(sock: socket.socket) -> bool:
    """An idle connection must have nothing to read: readable means the peer closed (or sent junk)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed or invalid descriptor
        return False
    return not readable


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:  # pragma: no cover - closing can only fail on an already broken descriptor
        pass


class _Reaper:
    """One daemon thread for all pools, running only while some pool is open."""

    def __init__(self) -> None:
        self._pools: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, pool: ConnectionPool) -> None:
        with self._lock:
            self._pools.add(pool)
            if self._thread is None or not self._thread.is_alive():
                self._wake.clear()
                self._thread = threading.Thread(target=self._run, name=REAPER_THREAD_NAME, daemon=True)
                self._thread.start()

    def unregister(self, pool: ConnectionPool) -> None:
        with self._lock:
            self._pools.discard(pool)
            if not self._pools:
                self._wake.set()  # let the thread end now rather than at its next tick

    def _run(self) -> None:
        while True:
            self._wake.wait(REAPER_INTERVAL_S)
            with self._lock:
                pools = list(self._pools)
                if not pools:
                    self._thread = None
                    return
                self._wake.clear()
            for pool in pools:
                try:
                    pool.reap()
                except Exception:  # pragma: no cover - reaping must never kill the thread
                    log.exception("reaping idle socket connections failed")


_reaper = _Reaper()
