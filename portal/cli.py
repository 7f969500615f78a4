"""The ``portal`` command (also reachable as ``flask --app portal``)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from portal import create_app
from portal.demo.command import demo_command, interrupt_on_sigterm
from portal.errors import PortalError


def _create_app():
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
@click.version_option(package_name="service-desk-portal")
def main() -> None:
    """Service-desk portal: one login, one customer number, one combined view."""


def fail(exc: PortalError) -> None:
    click.echo(f"error: {exc.detail}", err=True)
    sys.exit(2)


# --- database ---------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    from portal import migrate
    from portal.db import get_database

    engine = get_database().engine
    migrate.upgrade(engine)
    click.echo(f"database at revision {migrate.current_revision(engine)} ({engine.url.render_as_string()})")


# --- users ------------------------------------------------------------------------------

@main.group()
def users() -> None:
    """Operator accounts."""


@users.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="Role name; repeat for several.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def users_create(username: str, roles: tuple[str, ...], display_name: str, password_stdin: bool) -> None:
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
            user = create_user(session, username.lower(), password, list(roles), display_name)
        except PortalError as exc:
            fail(exc)
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
            fail(exc)
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


# --- adapters ---------------------------------------------------------------------------

@main.group()
def adapters() -> None:
    """Back-office adapters."""


@adapters.command("list")
@with_appcontext
def adapters_list() -> None:
    """List the loaded adapters and any that failed to load."""
    loaded = current_app.extensions["portal.adapters"]
    for adapter in loaded.registry:
        state = "enabled" if adapter.config.enabled else "disabled"
        click.echo(f"{adapter.id:14} {adapter.config.kind:7} {state:9} {adapter.config.name}")
    for error in loaded.errors:
        click.echo(f"error: {error.detail}", err=True)
    if loaded.errors:
        sys.exit(1)


# --- servers ----------------------------------------------------------------------------

@main.command("backoffice")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--latency", "latencies", multiple=True, metavar="[SYSTEM=]SECONDS",
              help="Delay before every answer: for all systems, or one system (repeatable), e.g. --latency boss=0.2")
def backoffice_command(host: str, latencies: tuple[str, ...]) -> None:
    """Serve the twelve simulated back-office systems until interrupted."""
    from portal.demo.backoffice import BackOffice, BackOfficeError

    office = BackOffice(host=host, latency=parse_latencies(latencies))
    try:
        office.start()
    except BackOfficeError as exc:
        raise click.ClickException(f"{exc}. Is another `portal demo` or `portal backoffice` running?") from exc
    interrupt_on_sigterm()
    for system in office.systems.values():
        click.echo(f"{system.id:12} {system.protocol:7} {system.base_url}")
    click.echo("Press Ctrl+C to stop.")
    office.serve_forever()


def parse_latencies(values: tuple[str, ...]) -> dict[str, float] | None:
    """``0.1`` applies to every system, ``boss=0.2`` to one; later values win."""
    from portal.demo.catalogue import SYSTEM_IDS

    latency: dict[str, float] = {}
    for value in values:
        system_id, _, seconds = value.rpartition("=")
        targets = [system_id] if system_id else list(SYSTEM_IDS)
        if system_id and system_id not in SYSTEM_IDS:
            raise click.BadParameter(f"unknown system {system_id!r} (one of {', '.join(SYSTEM_IDS)})")
        try:
            delay = float(seconds)
        except ValueError:
            raise click.BadParameter(f"{value!r}: seconds must be a number") from None
        if delay < 0:
            raise click.BadParameter(f"{value!r}: seconds cannot be negative")
        latency.update({target: delay for target in targets})
    return latency or None


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=32, show_default=True, type=int, help="Worker threads (lookups wait on back offices).")
def serve_command(host: str, port: int, threads: int) -> None:
    """Serve the portal with a production WSGI server (waitress)."""
    from waitress import serve

    serve(create_app(), host=host, port=port, threads=threads, ident="portal")


main.add_command(demo_command)

if __name__ == "__main__":
    main()
