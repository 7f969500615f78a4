"""`portal adapters approve|promote|rollback|retire|shadow|versions`: the lifecycle from the command line."""

import pytest

KNOWN = "13800000000"


@pytest.fixture
def registered(cli, tmp_path, demo_adapters_dir):
    """points2 registered by the marketing owner (draft version 1), with an admin who may approve it."""
    cli("db", "upgrade")
    for name, role, team in [("mkt", "system_owner", ["--team", "marketing-team"]), ("boss1", "admin", [])]:
        result = cli("users", "create", name, "--role", role, *team, "--password-stdin", input="a good long password\n")
        assert result.exit_code == 0, result.output
    document = tmp_path / "points2.toml"
    text = (demo_adapters_dir / "loyalty.toml").read_text().replace('id = "loyalty"', 'id = "points2"')
    document.write_text(text)
    assert cli("adapters", "add", str(document), "--as", "mkt").exit_code == 0
    text = text.replace('name = "Loyalty points"', 'name = "Points v2"')
    return document, text


def test_approve_promote_rollback_retire_from_the_cli(cli, registered):
    document, second = registered
    refused = cli("adapters", "promote", "points2", "1", "--as", "mkt")
    assert refused.exit_code == 1 and "only an approved version can go live" in refused.output
    own = cli("adapters", "approve", "points2", "1", "--as", "mkt")
    assert own.exit_code == 1 and "adapters.approve" in own.output

    assert cli("adapters", "approve", "points2", "1", "--as", "boss1").output == "points2: approve 1; no version is live\n"
    assert cli("adapters", "promote", "points2", "1", "--as", "mkt").output == "points2: promote 1; version 1 is live\n"

    save_as_owner("points2", second)

    assert cli("adapters", "approve", "points2", "2", "--as", "boss1").exit_code == 0
    assert "version 2 is live" in cli("adapters", "promote", "points2", "2", "--as", "mkt").output
    listing = cli("adapters", "versions", "points2", "--as", "mkt").output.splitlines()
    assert listing[0].split()[:2] == ["2", "live"] and listing[1].split()[:2] == ["1", "approved"]

    rolled = cli("adapters", "rollback", "points2", "--as", "mkt")
    assert rolled.output == "points2: rollback 1; version 1 is live\n"
    retired = cli("adapters", "retire", "points2", "--as", "mkt")
    assert retired.output == "points2: retire 1; no version is live\n"
    # Nothing is live now: a rollback brings back the newest approved version.
    assert cli("adapters", "rollback", "points2", "--as", "mkt").output == "points2: rollback 2; version 2 is live\n"
    assert cli("adapters", "retire", "points2", "1", "--as", "mkt").exit_code == 1  # already retired


def save_as_owner(adapter_id: str, toml_text: str) -> None:
    """A new draft version, saved as the page and API save it (the CLI registers, it does not edit)."""
    import tomllib

    from portal import create_app
    from portal.accounts.service import Operator, find_user
    from portal.audit.record import Actor

    app = create_app()
    try:
        with app.extensions["portal.db"].session() as session:
            owner = Operator.of(find_user(session, "mkt"))
            app.extensions["portal.catalog_service"].update(session, owner, Actor("mkt"), adapter_id,
                                                            tomllib.loads(toml_text))
            session.commit()
    finally:
        app.extensions["portal.catalog"].close()
        app.extensions["portal.db"].dispose()


def test_shadow_from_the_cli(cli, registered):
    assert cli("adapters", "approve", "points2", "1", "--as", "boss1").exit_code == 0
    assert cli("adapters", "promote", "points2", "1", "--as", "mkt").exit_code == 0
    usage = cli("adapters", "shadow", "points2", "--as", "mkt")
    assert usage.exit_code == 2 and "give a VERSION" in usage.output
    live = cli("adapters", "shadow", "points2", "1", "--as", "mkt")
    assert live.exit_code == 1 and "only a draft or approved version can run in shadow" in live.output
    assert "no shadow run" in cli("adapters", "shadow", "points2", "--report", "--as", "mkt").output
