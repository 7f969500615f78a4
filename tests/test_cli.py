"""The `portal` command: database, users and tokens, adapters."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(settings_overrides, monkeypatch):
    for key, value in settings_overrides.items():
        if key != "testing":
            text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)  # lists: JSON (egress_allow)
            monkeypatch.setenv(f"PORTAL_{key.upper()}", text)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_db_upgrade_then_users_and_token(run, settings_overrides):
    from portal import create_app

    result = run("db", "upgrade")
    from portal.migrate import head_revision

    assert result.exit_code == 0 and f"revision {head_revision()}" in result.output

    result = run("users", "create", "Bob", "--role", "agent", "--password-stdin", input="a good long password\n")
    assert result.exit_code == 0, result.output
    assert "created bob with roles agent" in result.output

    result = run("users", "token", "bob")
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("pt_")

    client = create_app(settings_overrides).test_client()
    response = client.get("/api/v1/customers/not-a-number", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400  # authenticated by the token, then the number is refused

    assert "bob" in run("users", "list").output


def test_users_create_reports_bad_input_clearly(run):
    run("db", "upgrade")
    result = run("users", "create", "carol", "--role", "wizard", "--password-stdin", input="a good long password\n")
    assert result.exit_code == 1
    assert "unknown role(s): wizard" in result.output


def test_users_token_for_unknown_user(run):
    run("db", "upgrade")
    result = run("users", "token", "nobody")
    assert result.exit_code == 1 and "no user 'nobody'" in result.output


def test_adapters_list_shows_the_twelve_demo_systems(run):
    run("db", "upgrade")
    result = run("adapters", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 12
    assert {line.split()[1] for line in lines} == {"html", "xml", "soap", "socket"}
    assert {line.split()[3] for line in lines} == {"file"}


def test_backoffice_latency_option_parses_all_and_per_system():
    from portal.cli import parse_latencies

    latency = parse_latencies(("0.05", "boss=0.2"))
    assert latency["boss"] == 0.2 and latency["mail"] == 0.05 and len(latency) == 12
    assert parse_latencies(()) is None


@pytest.mark.parametrize("value", ["nosuch=0.1", "boss=fast", "-1"])
def test_backoffice_latency_option_rejects_bad_values(value):
    result = CliRunner().invoke(main, ["backoffice", "--latency", value])
    assert result.exit_code == 2 and "Invalid value" in result.output


def test_backoffice_says_which_port_is_taken(fixed_port_taken):
    result = CliRunner().invoke(main, ["backoffice"])
    assert result.exit_code == 1
    assert "cannot listen on port 8201" in result.output
    assert "Is another `portal demo` or `portal backoffice` running?" in result.output


def test_adapters_check_names_file_key_and_reason(run, tmp_path, demo_adapters_dir):
    good = demo_adapters_dir / "loyalty.toml"
    bad = tmp_path / "broken.toml"
    bad.write_text(good.read_text().replace('timeout_s = 2.0', 'timeout_s = "soon"'))
    result = run("adapters", "check", str(good), str(bad))
    assert result.exit_code == 1
    assert f"{bad}: timeout_s:" in result.output and "1 adapter(s) valid, 1 invalid" in result.output
    result = run("adapters", "check")
    assert result.exit_code == 0 and "12 adapter(s) valid, 0 invalid" in result.output


@pytest.mark.backoffice
def test_adapters_add_then_test_from_the_cli(run, tmp_path, backoffice, demo_adapters_dir):
    run("db", "upgrade")
    run("users", "create", "mkt", "--role", "system_owner", "--team", "marketing-team", "--password-stdin",
        input="a good long password\n")
    document = tmp_path / "points2.toml"
    document.write_text((demo_adapters_dir / "loyalty.toml").read_text().replace('id = "loyalty"', 'id = "points2"'))
    result = run("adapters", "add", str(document), "--as", "mkt")
    assert result.exit_code == 0 and "registered points2 as draft version 1" in result.output
    result = run("adapters", "test", "points2", "13800000000", "--as", "mkt")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("points2: ok in") and "tier" in result.output
    assert "--- raw answer" not in result.output  # owners hold no adapters.raw
    result = run("adapters", "test", "points2", "13900000000", "--as", "mkt")
    assert result.exit_code == 1 and "not_found" in result.output
