"""Fixtures for the bulk import: CSV builders, an import runner, stored operators."""

from __future__ import annotations

import pytest
from sqlalchemy import select

HEADER = "username,name,email,phone,region,roles,status"


@pytest.fixture
def csv_text():
    """A CSV: the header (the seven columns unless given) and the lines."""

    def build(*lines: str, header: str = HEADER) -> str:
        return "\n".join([header, *lines]) + "\n"

    return build


@pytest.fixture
def run_import(app, db):
    """Import ``data`` (str -> UTF-8) with the engine the CLI, API and page use; returns the report."""
    from portal.accounts.importer import ImportRequest
    from portal.accounts.importer import run_import as engine_run
    from portal.audit.record import Actor
    from portal.db import unit_of_work

    def run(data: str | bytes, *, apply: bool = False, mapping: str | bytes | None = None,
            mapping_filename: str = "mapping.csv", encoding: str | None = None):
        raw = data.encode("utf-8") if isinstance(data, str) else data
        raw_mapping = mapping.encode("utf-8") if isinstance(mapping, str) else mapping
        with unit_of_work(app.extensions["portal.db"]) as session:  # as the CLI, API and page end it
            report = engine_run(session, Actor("tester"), ImportRequest(
                raw, "operators.csv", encoding, raw_mapping, mapping_filename if mapping else "", apply))
        db.expire_all()  # the checking session sees what the import committed
        return report

    return run


@pytest.fixture
def operators(db):
    """The stored operators as plain dicts, by username."""
    from portal.accounts.models import User

    def snapshot() -> dict[str, dict]:
        db.expire_all()
        return {user.username: {"display_name": user.display_name, "email": user.email, "phone": user.phone,
                                "region": user.region, "enabled": user.enabled, "roles": user.role_names,
                                "password_hash": user.password_hash}
                for user in db.scalars(select(User))}

    return snapshot


@pytest.fixture
def audit_rows(db):
    from portal.audit.models import AuditEvent

    def rows(action_prefix: str = "user.") -> list:
        db.expire_all()
        return [row for row in db.scalars(select(AuditEvent).order_by(AuditEvent.id))
                if row.action.startswith(action_prefix)]

    return rows


@pytest.fixture
def signed_in_admin(make_user, login):
    """An admin (``users.manage``) signed in with the browser session."""
    user = make_user("root", "admin")
    assert login("root").status_code == 302
    return user


@pytest.fixture
def bearer(app, make_user):
    """``Authorization`` headers of a personal API token for a new operator with the given role."""
    from portal.accounts.service import issue_token

    def headers(username: str, role: str) -> dict[str, str]:
        make_user(username, role)
        with app.extensions["portal.db"].session() as session:
            _, token = issue_token(session, username)
            session.commit()
        return {"Authorization": f"Bearer {token}"}

    return headers
