"""`portal users import FILE [--apply] [--mapping FILE] [--encoding utf-8|gbk]`: report and exit codes."""

import json

import pytest
from click.testing import CliRunner

from portal.cli import main

GOOD = ["alice,Alice Wong,alice@example.cn,,north,CSR,启用", "bob,,,,,agent|supervisor,enabled"]
BAD = "carol,,,12ab,,agent,enabled"


@pytest.fixture
def portal_cli(app, settings_overrides, monkeypatch):
    """Run `portal ...` against the test database (``app`` has migrated it)."""
    for key, value in settings_overrides.items():
        if key != "testing":
            text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)  # lists: JSON (egress_allow)
            monkeypatch.setenv(f"PORTAL_{key.upper()}", text)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def files(tmp_path, csv_text):
    def write(*lines: str, encoding: str = "utf-8") -> str:
        path = tmp_path / "operators.csv"
        path.write_bytes(csv_text(*lines).encode(encoding))
        return str(path)

    mapping = tmp_path / "mapping.csv"
    mapping.write_text("legacy,role\nCSR,agent\n", encoding="utf-8")
    write.mapping = str(mapping)
    return write


def test_dry_run_with_errors_prints_them_first_and_exits_1(portal_cli, files, operators):
    result = portal_cli("users", "import", files(GOOD[1], BAD))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "line 3: error carol: phone '12ab' may hold only digits, spaces, dashes and a leading '+'"
    assert lines[1] == "line 2: create bob: enabled true, roles agent|supervisor"
    assert lines[-1] == "1 to create, 0 to update, 0 unchanged, 1 error"
    assert operators() == {}


def test_clean_dry_run_exits_0_and_writes_nothing(portal_cli, files, operators):
    result = portal_cli("users", "import", files(*GOOD), "--mapping", files.mapping)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "2 to create, 0 to update, 0 unchanged, 0 errors"
    assert operators() == {}


def test_apply_with_errors_applies_nothing(portal_cli, files, operators):
    result = portal_cli("users", "import", files(*GOOD, BAD), "--mapping", files.mapping, "--apply")
    assert result.exit_code == 1
    assert result.output.splitlines()[-2:] == ["2 to create, 0 to update, 0 unchanged, 1 error",
                                               "nothing applied: 1 error"]
    assert operators() == {}


def test_apply_then_again_with_gbk(portal_cli, files, operators, audit_rows):
    path = files(*GOOD, encoding="gbk")
    result = portal_cli("users", "import", path, "--mapping", files.mapping, "--apply")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "applied"
    assert operators()["alice"]["roles"] == ["agent"]
    result = portal_cli("users", "import", path, "--mapping", files.mapping, "--apply", "--encoding", "gbk")
    assert result.exit_code == 0
    assert result.output.splitlines() == ["0 to create, 0 to update, 2 unchanged, 0 errors", "applied"]
    assert [row.actor for row in audit_rows("user.import")] == ["cli", "cli"]


def test_update_lines_show_before_and_after(portal_cli, files, make_user):
    make_user("bob", "agent")
    result = portal_cli("users", "import", files("bob,Bob,,,,agent,disabled"))
    assert "line 2: update bob: display_name - -> Bob, enabled true -> false" in result.output


def test_file_level_errors_exit_1_with_the_reason(portal_cli, files, tmp_path):
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("login,roles\nx,agent\n")
    result = portal_cli("users", "import", str(bad_header))
    assert result.exit_code == 1 and "unknown column(s) 'login'" in result.output
    result = portal_cli("users", "import", files(GOOD[1], "lina,李娜,,,,agent,1", encoding="gbk"),
                        "--encoding", "utf-8")
    assert result.exit_code == 1 and "line 3: not UTF-8 text" in result.output
