"""`portal users ...`: operator accounts from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

from portal.errors import PortalError

if TYPE_CHECKING:  # pragma: no cover
    from portal.accounts.importer import Change


@click.group()
def users() -> None:
    """Operator accounts."""


@users.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="Role name; repeat for several.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--team", "teams", multiple=True, help="Team (system owners manage their teams' adapters); repeatable.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def users_create(username: str, roles: tuple[str, ...], display_name: str, teams: tuple[str, ...],
                 password_stdin: bool) -> None:
    """Create an operator with a password."""
    from portal.accounts.service import create_user
    from portal.audit.record import Actor, Event, record
    from portal.db import get_database

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with get_database().session() as session:
        try:
            user = create_user(session, username.lower(), password, list(roles), display_name, list(teams))
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        record(session, Actor("cli"), Event(action="user.create", target=user.username,
                                            details={"roles": user.role_names}))
        session.commit()
        click.echo(f"created {user.username} with roles {', '.join(user.role_names)}")


@users.command("token")
@click.argument("username")
@with_appcontext
def users_token(username: str) -> None:
    """Issue a personal API token; it is printed once, as the last line."""
    from portal.accounts.service import issue_token
    from portal.audit.record import Actor, Event, record
    from portal.db import get_database

    with get_database().session() as session:
        try:
            user, token = issue_token(session, username.lower())
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        record(session, Actor("cli"), Event(action="token.create", target=user.username))
        session.commit()
    click.echo(f"New API token for {user.username}; it is shown only now. Use it as 'Authorization: Bearer <token>':")
    click.echo(token)


def _set_enabled(username: str, enabled: bool) -> None:
    from portal.accounts import admin
    from portal.audit.record import Actor
    from portal.db import get_database, unit_of_work

    with unit_of_work(get_database()) as session:
        try:
            user = admin.update(session, Actor("cli"), username.lower(), {"enabled": enabled})
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        state = "enabled" if user.enabled else "disabled; their sessions have ended"
        click.echo(f"{user.username} {state}")


@users.command("disable")
@click.argument("username")
@with_appcontext
def users_disable(username: str) -> None:
    """Disable an operator: no sign-in, their open sessions end (the last enabled admin cannot be)."""
    _set_enabled(username, False)


@users.command("enable")
@click.argument("username")
@with_appcontext
def users_enable(username: str) -> None:
    """Enable an operator again."""
    _set_enabled(username, True)


@users.command("list")
@with_appcontext
def users_list() -> None:
    """List operators and their roles."""
    from sqlalchemy import select

    from portal.accounts.models import User
    from portal.db import get_database

    with get_database().session() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            state = "enabled" if user.enabled else "disabled"
            click.echo(f"{user.username:20} {state:9} {', '.join(user.role_names)}")


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--apply", "apply", is_flag=True, help="Write the changes (all or nothing); without it, a dry run.")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Legacy names -> portal roles: CSV 'legacy,role' or TOML '[roles] legacy = \"role\"'.")
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "gbk"], case_sensitive=False), default="auto",
              show_default=True, help="The CSV's encoding; auto tries UTF-8 (with or without BOM), then GBK.")
@with_appcontext
def users_import(file: Path, apply: bool, mapping: Path | None, encoding: str) -> None:
    """Import operators from a legacy system's CSV; prints the report, exits 1 on errors."""
    from portal.accounts.importer import ImportRequest, normalize_encoding, run_import
    from portal.audit.record import Actor
    from portal.db import get_database, unit_of_work

    request = ImportRequest(data=file.read_bytes(), filename=file.name, encoding=normalize_encoding(encoding),
                            mapping=mapping.read_bytes() if mapping else None,
                            mapping_filename=mapping.name if mapping else "", apply=apply)
    with unit_of_work(get_database()) as session:
        try:
            report = run_import(session, Actor("cli"), request)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
    # Errors first: they decide whether anything can be applied.
    for line in report.errors:
        click.echo(f"line {line.line}: error {line.username}: {'; '.join(line.errors)}")
    for line in report.lines:
        if line.action in ("create", "update"):
            changes = ", ".join(_change_text(line.action, change) for change in line.changes)
            click.echo(f"line {line.line}: {line.action} {line.username}: {changes}")
    click.echo(report.summary.text())
    if apply:
        click.echo(report.outcome())
    if report.summary.error:
        click.get_current_context().exit(1)


def _change_text(action: str, change: Change) -> str:
    def show(value: object) -> str:
        if isinstance(value, list):
            return "|".join(value) or "-"
        if isinstance(value, bool):
            return str(value).lower()
        return "-" if value in (None, "") else str(value)

    if action == "create":
        return f"{change.attribute} {show(change.after)}"
    return f"{change.attribute} {show(change.before)} -> {show(change.after)}"
