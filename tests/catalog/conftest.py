"""Fixtures of the catalogue tests: API tokens of the people who register, approve and use adapters."""

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tokens(app):
    """API tokens for an agent, an admin, a second admin, a raw-answer reader, and two system owners."""
    from portal.accounts.service import create_user, issue_token
    from portal.audit.record import Actor
    from portal.rbac import roles

    made = {}
    with app.extensions["portal.db"].session() as session:
        roles.create(session, Actor("setup"), {"name": "raw_reader", "permissions": ["adapters.raw"]})
        for name, granted, teams in [("agent1", ["agent"], []), ("admin1", ["admin"], []), ("admin2", ["admin"], []),
                                     ("rawadmin", ["admin", "raw_reader"], []),
                                     ("mkt", ["system_owner"], ["marketing-team"]),
                                     ("bill", ["system_owner"], ["billing-team"])]:
            create_user(session, name, "a long password", granted, teams=teams)
            _, made[name] = issue_token(session, name)
        session.commit()
    return made


@pytest.fixture
def api():
    """``api(client, method, path, token, **kwargs)``: one API call with a bearer token."""

    def call(client, method, path, token, **kwargs):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return call


@pytest.fixture
def go_live(api, tokens):
    """Approve (as ``admin1``) and promote (as ``promoter``) one version of a registered adapter."""

    def steps(client, adapter_id, version=1, promoter="mkt"):
        approved = api(client, "POST", f"/api/v1/adapters/{adapter_id}/versions/{version}/approve", tokens["admin1"])
        assert approved.status_code == 200, approved.get_json()
        promoted = api(client, "POST", f"/api/v1/adapters/{adapter_id}/versions/{version}/promote",
                       tokens[promoter])
        assert promoted.status_code == 200, promoted.get_json()
        return promoted.get_json()

    return steps


@pytest.fixture
def loyalty_document(demo_adapters_dir):
    """``loyalty_document(**changes)``: the demo loyalty adapter (for the session's back office) as a new
    adapter ``points2`` of the marketing team, to register."""

    def document(**changes) -> dict:
        loaded = tomllib.loads((demo_adapters_dir / "loyalty.toml").read_text())
        loaded.update(id="points2", name="Points (registered)", owner="marketing-team")
        loaded.update(changes)
        return loaded

    return document


@pytest.fixture
def points_toml(demo_adapters_dir):
    """``points_toml(owner=..., name=...)``: the demo loyalty adapter's file as a new adapter points2."""

    def text(owner="marketing-team", name="Points (registered)") -> str:
        loyalty = (demo_adapters_dir / "loyalty.toml").read_text()
        loyalty = loyalty.replace('id = "loyalty"', 'id = "points2"').replace('name = "Loyalty points"',
                                                                           f'name = "{name}"')
        return re.sub(r'owner = "[^"]*"', f'owner = "{owner}"', loyalty)

    return text
