"""`portal demo` end to end, as a new user runs it: no configuration, a data folder, demo users."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_demo(data_dir: Path, port: int) -> tuple[subprocess.Popen, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_DATA_DIR"] = str(data_dir)
    # Its own back office on free ports: never the fixed ones, which a demo on this machine may hold.
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "demo", "--port", str(port), "--free-ports"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("Portal: "):
            return process, lines
    process.kill()
    raise AssertionError("portal demo did not start:\n" + "\n".join(lines))


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=15)


def sign_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    page = session.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = session.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                            timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.text
    return session


@pytest.mark.backoffice
def test_demo_from_nothing_then_restart_reuses_the_data(tmp_path):
    data_dir = tmp_path / "var"
    port = free_port()
    process, lines = start_demo(data_dir, port)
    try:
        passwords = dict(re.findall(r"^\s+(\w+)\s+role \w+\s+password (\S+)$", "\n".join(lines), re.M))
        assert set(passwords) == {"agent", "supervisor", "admin", "auditor", "owner"}
        assert (data_dir / "portal.db").is_file() and (data_dir / "secret_key").is_file()
        [ports] = re.findall(r"^Simulated back office: 12 systems on 127\.0\.0\.1 ports (\S+); fault injection at "
                             r"http://127\.0\.0\.1:\d+/faults$", "\n".join(lines), re.M)
        assert "8201" not in ports  # free ports, as asked
        assert f"Adapters: {data_dir / 'adapters'} (rendered for these ports)" in lines
        boss = (data_dir / "adapters" / "boss.toml").read_text()
        assert re.search(r'wsdl = "http://127\.0\.0\.1:(\d+)/boss\?wsdl"', boss).group(1) in ports
        base = f"http://127.0.0.1:{port}"
        session = sign_in(base, "agent", passwords["agent"])
        body = session.get(f"{base}/api/v1/customers/13800000000", timeout=10).json()
        assert [s["status"] for s in body["systems"]] == ["ok"] * 12
        assert "Customer 13800000000" in session.get(f"{base}/customers/13800000000", timeout=10).text
    finally:
        stop(process)

    process, lines = start_demo(data_dir, port)
    try:
        assert "already exist" in "\n".join(lines)
        assert not re.search(r"password \S+$", "\n".join(lines), re.M)  # printed only the first time
        sign_in(f"http://127.0.0.1:{port}", "agent", passwords["agent"])
    finally:
        stop(process)


def test_demo_takes_free_ports_when_a_fixed_one_is_taken(fixed_port_taken, capsys):
    from portal.demo.command import start_backoffice

    office = start_backoffice(free_ports=False)
    try:
        assert capsys.readouterr().out == ("Port 8201 is taken (another `portal demo` or `portal backoffice`?): "
                                           "the simulated systems take free ports instead.\n")
        assert 8201 not in office.addresses.ports.values()
        assert all(system.running for system in office.systems.values()) and office.control_url
    finally:
        office.close()
