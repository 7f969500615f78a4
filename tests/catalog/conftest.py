"""Fixtures of the catalogue tests: API tokens of the people who register, approve and use adapters."""

import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tokens(app):
    """API tokens for an agent, an admin, a second admin, a raw-answer reader, and two system owners."""
    from portal.accounts.service import create_user, issue_token
    from portal.rbac import roles
    from portal.audit.record import Actor

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


def loyalty_document(**changes) -> dict:
    document = tomllib.loads((REPO / "config/adapters/loyalty.toml").read_text())
    document.update(id="points2", name="Points (registered)", owner="marketing-team")
    document.update(changes)
    return document

