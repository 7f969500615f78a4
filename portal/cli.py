"""The ``portal`` command (also reachable as ``flask --app portal``)."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup, with_appcontext

from portal import create_app
from portal.accounts.cli import users
from portal.admin.roles_cli import roles
from portal.audit.cli import audit
from portal.catalog.cli import adapters
from portal.demo.command import demo_command
from portal.monitor.cli import monitor
from portal.signals import interrupt_on_sigterm


def _create_app():
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
@click.version_option(package_name="service-desk-portal")
def main() -> None:
    """Service-desk portal: one login, one customer number, one combined view."""


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
    if office.control_url:
        click.echo(f"Fault injection: {office.control_url} (see docs/backoffice.md)")
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
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (more than 1: gunicorn; about one per core for many agents at once).")
@click.option("--threads", default=32, show_default=True, type=click.IntRange(1, 1024),
              help="Threads per process (lookups wait on back offices).")
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the portal with a production WSGI server (waitress, or gunicorn with --workers)."""
    from portal.serving import serve

    def factory():
        # Adapters may not reach the portal's own web server: tell the egress policy where it listens.
        return create_app({"serve_addresses": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]})

    serve(factory, host=host, port=port, workers=workers, threads=threads)


main.add_command(users)
main.add_command(roles)
main.add_command(adapters)
main.add_command(audit)
main.add_command(demo_command)
main.add_command(monitor)

if __name__ == "__main__":
    main()
