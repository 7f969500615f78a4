"""Helpers for the simulated back office's own tests (the ``backoffice`` fixture is in tests/conftest.py).

The tests run with ``--import-mode=importlib``, so shared helpers travel as the ``net`` fixture.
"""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest
import requests


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


@pytest.fixture
def net() -> SimpleNamespace:
    """Raw-socket and thread helpers: net.connect, net.recv_exactly, net.recv_line, ..."""
    return SimpleNamespace(connect=connect, recv_exactly=recv_exactly, recv_line=recv_line,
                           connection_threads=connection_threads, wait_until=wait_until)
