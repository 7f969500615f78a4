"""``portal sso``: vault key, hand-off key rotation, form-mode credentials, second factors."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("sso")
def sso() -> None:
    """Single sign-on: keys, credentials for form-mode systems, second factors."""


@sso.command("vault-key")
def vault_key() -> None:
    """Print a new key for PORTAL_VAULT_KEY."""
    from portal.sso.vault import Vault

    click.echo(Vault.new_key())


@sso.command("rotate-keys")
@with_appcontext
def rotate_keys() -> None:
    """Sign hand-offs with a new key; the old one stays published until its tokens have expired."""
    kid = current_app.extensions["portal.keyring"].rotate()
    click.echo(f"new signing key {kid}")


@sso.group("credentials")
def credentials() -> None:
    """Credentials that form-mode quick channels post to a system's login form (encrypted at rest)."""


@credentials.command("set")
@click.argument("system_id")
@click.option("--operator", default="*", show_default=True, help="Portal username, or * for the service account.")
@click.option("--username", required=True, help="The login name at the system.")
@click.password_option("--password", help="The password at the system (prompted when not given).")
@with_appcontext
def credentials_set(system_id: str, operator: str, username: str, password: str) -> None:
    from portal.audit.record import Actor, Event, record
    from portal.db import get_database

    with get_database().session() as session:
        created = current_app.extensions["portal.credentials"].store_in(session, system_id, username, password,
                                                                         operator)
        record(session, Actor("cli"), Event(action="sso.credentials_set", target=system_id, details={
            "system": system_id, "operator": operator, "login_username": username,
            "change": "create" if created else "update"}))
        session.commit()
    click.echo(f"stored credentials for {system_id} ({'service account' if operator == '*' else operator})")


@credentials.command("remove")
@click.argument("system_id")
@click.option("--operator", default="*", show_default=True)
@with_appcontext
def credentials_remove(system_id: str, operator: str) -> None:
    from portal.audit.record import Actor, Event, record
    from portal.db import get_database

    with get_database().session() as session:
        if not current_app.extensions["portal.credentials"].remove_in(session, system_id, operator):
            raise click.ClickException(f"no credentials for {system_id} / {operator}")
        record(session, Actor("cli"), Event(action="sso.credentials_remove", target=system_id,
                                            details={"system": system_id, "operator": operator}))
        session.commit()
    click.echo("removed")


@credentials.command("list")
@with_appcontext
def credentials_list() -> None:
    for row in current_app.extensions["portal.credentials"].listing():
        click.echo(f"{row['system']:16} {row['operator']:16} {row['login_username']}")


@sso.command("reset-totp")
@click.argument("username")
@with_appcontext
def reset_totp(username: str) -> None:
    """Remove an operator's second factor (they enrol again at their next sign-in)."""
    from portal.accounts.service import find_user
    from portal.db import get_database

    with get_database().session() as db:
        user = find_user(db, username)
        if user is None:
            raise click.ClickException(f"no operator {username!r}")
        current_app.extensions["portal.totp"].remove(user.id)
    click.echo(f"second factor of {username} removed")
