"""`portal monitor`: one tick, the status table, waiting for another monitor, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import main

REPO = Path(__file__).resolve().parents[2]

ADAPTER = """
id = "{id}"
name = "{name}"
kind = "socket"
owner = "ops"
timeout_s = 1.0
host = "127.0.0.1"
port = {port}
request = "Q {{customer}}"
pattern = '^OK (?P<x>.*)'

[probe]
kind = "connect"
"""


@pytest.fixture
def environment(settings_overrides, tmp_path, tcp_server, unused_port, demo_egress_allow):
    """PORTAL_* variables for a portal whose catalogue is one listening and one dead system."""
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    (adapters / "alpha.toml").write_text(ADAPTER.format(id="alpha", name="Alpha", port=tcp_server[1]))
    (adapters / "beta.toml").write_text(ADAPTER.format(id="beta", name="Beta", port=unused_port))
    env = {f"PORTAL_{key.upper()}": str(value) for key, value in settings_overrides.items()
           if key not in ("testing", "egress_allow")}
    env["PORTAL_EGRESS_ALLOW"] = json.dumps(demo_egress_allow(tcp_server[1], unused_port))
    env["PORTAL_ADAPTERS_DIR"] = str(adapters)
    env["PORTAL_REDIS_URL"] = ""
    return env


@pytest.fixture
def run(environment, monkeypatch):
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    invoke("db", "upgrade")
    return invoke


def test_once_runs_one_tick_and_status_shows_each_system(run):
    result = run("monitor", "--once")
    assert result.exit_code == 0, result.output
    assert "holds the database lease 'monitor'" in result.output
    assert "2 probes, 0 lookups read, 2 observations, 1 state changes" in result.output
    assert "alpha: unknown -> up" in result.output

    result = run("monitor", "status")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.split()}
    assert " up " in lines["alpha"] and " ms " in lines["alpha"]
    assert " unknown " in lines["beta"] and lines["beta"].endswith("connection refused")
    assert "is free: no monitor is acting" in result.output  # --once released it on the way out
    assert "last recorded by" in result.output


def test_run_subcommand_once_is_the_same(run):
    result = run("monitor", "run", "--once")
    assert result.exit_code == 0 and "2 probes" in result.output


def test_a_second_monitor_waits_for_the_lease_holder(run, app):
    from portal.monitor.lease import DatabaseLease

    other = DatabaseLease(app.extensions["portal.db"], 60, holder="elsewhere:42:abcd")
    assert other.acquire()
    result = run("monitor", "--once")
    assert result.exit_code == 0
    assert "waiting: the database lease 'monitor' is held by elsewhere:42:abcd" in result.output
    assert "held by elsewhere:42:abcd" in run("monitor", "status").output
    other.release()


def test_status_before_any_check(run):
    result = run("monitor", "status")
    assert result.exit_code == 0 and "no system has been checked yet" in result.output


def test_help_lists_the_subcommands(run):
    output = run("monitor", "--help").output
    assert "status" in output and "run" in output and "--once" in output


def test_portal_monitor_runs_until_sigterm_and_releases_the_lease(environment, app):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(environment)
    env["PORTAL_MONITOR_TICK_S"] = "0.2"
    process = subprocess.Popen([sys.executable, "-m", "portal.cli", "monitor"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("holding the database lease"):
                break
        assert lines and lines[-1].startswith("holding the database lease"), "\n".join(lines)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, "\n".join(lines) + output
    assert "monitor stopped (lease released)" in output
    from portal.monitor.lease import DatabaseLease

    assert DatabaseLease(app.extensions["portal.db"], 30).current_holder() is None, output


@pytest.mark.backoffice
def test_portal_demo_runs_the_monitor_in_process(tmp_path):
    """`portal demo` says it runs the monitor, and the monitor checks the twelve demo systems."""
    import socket

    from sqlalchemy import create_engine, text

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({"PORTAL_DATA_DIR": str(data_dir), "PORTAL_MONITOR_TICK_S": "0.2"})
    # Its own back office, on free ports (the fixed ones may be a running demo's).
    process = subprocess.Popen([sys.executable, "-m", "portal.cli", "demo", "--port", str(port), "--free-ports"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    engine = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line or line.startswith("Portal: "):
                break
            lines.append(line.rstrip())
        assert any(line.startswith("Monitor: running in this process (database lease 'monitor')") for line in lines), \
            "\n".join(lines)
        engine = create_engine(f"sqlite:///{data_dir / 'portal.db'}")
        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as connection:
                states = dict(connection.execute(text("SELECT system_id, state FROM monitor_systems")).all())
            if len(states) == 12 and set(states.values()) == {"up"}:
                break
            assert time.monotonic() < deadline, f"the demo's monitor did not find all systems up: {states}"
            time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        if engine is not None:
            engine.dispose()
    assert process.returncode == 0 and "stopped" in output
