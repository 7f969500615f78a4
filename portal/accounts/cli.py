"""`portal users ...`: operator accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from portal.errors import PortalError


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
