"""`portal users disable|enable` and `portal roles list|show|grant|revoke` (DESIGN §5)."""

import json

import pytest


@pytest.fixture
def people(cli):
    assert cli("db", "upgrade").exit_code == 0
    for name, role in [("root", "admin"), ("ann", "agent")]:
        assert cli("users", "create", name, "--role", role, "--password-stdin", input="a good long password\n").exit_code == 0


def test_disable_and_enable_an_operator(cli, people):
    assert cli("users", "disable", "ann").output == "ann disabled; their sessions have ended\n"
    listing = cli("users", "list").output
    assert "ann" in listing
    assert cli("users", "enable", "ANN").output == "ann enabled\n"
    unknown = cli("users", "disable", "nobody")
    assert unknown.exit_code == 1 and "no operator 'nobody'" in unknown.output


def test_the_last_admin_cannot_be_disabled(cli, people):
    refused = cli("users", "disable", "root")
    assert refused.exit_code == 1 and "no enabled administrator" in refused.output


def test_roles_list_show_grant_revoke(cli, people):
    listing = cli("roles", "list").output
    assert "agent (built-in): customer.lookup, system.*.open, system.*.view" in listing
    shown = json.loads(cli("roles", "show", "agent").output)
    assert shown["field_grants"]["pii"] == "mask"

    granted = cli("roles", "grant", "agent", "customer.reveal", "system.boss.open")
    assert granted.exit_code == 0 and "customer.reveal" in granted.output
    assert "customer.reveal" in json.loads(cli("roles", "show", "agent").output)["permissions"]
    typo = cli("roles", "grant", "agent", "customer.reveel")
    assert typo.exit_code == 1 and "unknown permission(s): customer.reveel" in typo.output

    revoked = cli("roles", "revoke", "agent", "customer.reveal")
    assert "customer.reveal" not in revoked.output
    last_admin = cli("roles", "revoke", "admin", "users.manage")
    assert last_admin.exit_code == 1 and "no enabled administrator" in last_admin.output
    assert cli("roles", "show", "nosuch").exit_code == 1
