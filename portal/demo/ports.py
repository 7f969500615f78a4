"""Ports a back office keeps for its listeners, so a system that stops comes back where it was.

A system on a port the kernel picked (``port=0``: the tests, a second demo) must
come back on that very port after ``stop_system``: its adapter files name it.
Between the stop and the start any process on the machine could be given the
port (another test worker's server, or an outgoing connection's local port).
So each listener's port is *held*: a socket bound to it that never listens.

* Connections to a held port that nobody listens on are refused, as to a
  stopped system.
* Linux lets the listener bind beside the hold (both set ``SO_REUSEADDR`` and
  the hold never listens), and gives the port to nothing else meanwhile: no bind
  to port 0, no outgoing connection, no listener without ``SO_REUSEADDR``.
* BSD and macOS refuse the listener beside the hold; there the hold gives way
  while the listener runs and is taken again when it stops (:meth:`PortHold.listen`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TypeVar

from portal.demo.servers import BindFailed

T = TypeVar("T")


class PortHold:
    """One listener's port: ``port`` is 0 (any free port) until first reserved, then the real one.

    From :meth:`reserve` to :meth:`release` the port is *kept*: held by the socket, except
    while a listener runs in its place on platforms that need that.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._kept = False

    def __repr__(self) -> str:
        return f"<PortHold {self.host}:{self.port} {'kept' if self.kept else 'free'}>"

    @property
    def kept(self) -> bool:
        return self._kept

    def reserve(self) -> int:
        """Bind the port without listening (a no-op when held); :class:`BindFailed` when someone listens there."""
        if self._sock is None:
            self._sock = _bind(self.host, self.port)
            self.port = self._sock.getsockname()[1]
        self._kept = True
        return self.port

    def listen(self, start: Callable[[int], T]) -> T:
        """``start(port)`` beside the hold, or in its place on platforms that refuse both (see the module)."""
        try:
            return start(self.port)
        except BindFailed:
            if self._sock is None:
                raise
            self._close()  # still kept: :meth:`keep` holds the port again once the listener stops
            return start(self.port)

    def keep(self) -> None:
        """After the listener stopped: hold the port again if it gave way to the listener."""
        if self._kept and self._sock is None:
            try:
                self.reserve()
            except BindFailed:
                pass  # taken meanwhile: the next start says so, naming the port

    def release(self) -> None:
        """Give the port back (``port`` stays what it was, so a later reserve asks for the same one)."""
        self._kept = False
        self._close()

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listeners do: see the module docstring
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BindFailed(port, exc.strerror or str(exc)) from exc
    return sock
