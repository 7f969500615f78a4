"""Shared fixtures of the monitor tests: the demo adapters, a bare TCP server."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from tests.monitor.receivers import sms_receiver, smtp_receiver  # noqa: F401 - fixtures of the monitor tests

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_adapters(demo_adapters_dir):
    """id -> adapter for the twelve demo systems (for the session's back office), closed after the test."""
    from portal.adapters.registry import load_adapter_dir

    loaded = load_adapter_dir(demo_adapters_dir)
    adapters = {adapter.id: adapter for adapter in loaded.registry}
    yield adapters
    for adapter in adapters.values():
        adapter.close()


@pytest.fixture
def tcp_server():
    """A bare loopback socket that accepts connections and says nothing: (host, port)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[:2]
    stop.set()
    thread.join(timeout=5)
    server.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unused_port():
    return closed_port()
