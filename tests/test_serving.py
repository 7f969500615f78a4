"""``portal serve``: one waitress process, or gunicorn worker processes with --workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.fixture
def portal_env(tmp_path, database_url):
    env = {**os.environ,
           "PORTAL_DATABASE_URL": database_url,
           "PORTAL_DATA_DIR": str(tmp_path / "var"),
           "PORTAL_SECRET_KEY": "serve-test-secret",
           "PORTAL_ADAPTERS_DIR": str(REPO / "config" / "adapters")}
    subprocess.run([sys.executable, "-m", "portal.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=120)
    return env


def wait_ready(url: str, server: subprocess.Popen, seconds: float = 60.0) -> requests.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read().decode(errors="replace")
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_and_stops_on_sigterm(portal_env, workers):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "serve", "--port", str(port), "--workers", str(workers), "--threads", "4"],
        env=portal_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        assert ready.status_code == 200 and ready.json()["database"] == "ok"
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
        if workers > 1:
            deadline = time.monotonic() + 30
            while len(children(server.pid)) < workers and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(children(server.pid)) == workers  # gunicorn's master and one process per worker
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0


def test_workers_must_be_positive(portal_env):
    result = subprocess.run([sys.executable, "-m", "portal.cli", "serve", "--workers", "0"], env=portal_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--workers" in result.stderr
