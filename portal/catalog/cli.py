"""`portal adapters ...`: list, check, register and test adapters from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.errors import PortalError


@click.group()
def adapters() -> None:
    """Back-office adapters."""


@adapters.command("list")
@with_appcontext
def adapters_list() -> None:
    """List the adapters in force (files and registered) and any that failed to load."""
    from portal.db import get_database

    live = current_app.extensions["portal.catalog"]
    with get_database().session() as session:
        for adapter in live.adapters(session):
            state = "enabled" if adapter.config.enabled else "disabled"
            source = "file" if adapter.id in live.file_adapters else "database"
            click.echo(f"{adapter.id:14} {adapter.config.kind:7} {state:9} {source:10} {adapter.config.name}")
    problems = [*live.file_errors, *live.stored_errors().values()]
    for error in problems:
        click.echo(f"error: {error.detail}", err=True)
    if problems:
        sys.exit(1)


@adapters.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@with_appcontext
def adapters_check(paths: tuple[Path, ...]) -> None:
    """Validate adapter files without running them (default: the configured adapters folder)."""
    from portal.adapters.registry import load_adapter_dir, load_adapter_file

    targets = paths or (current_app.extensions["portal.settings"].adapters_dir,)
    good, errors = 0, []
    for target in targets:
        if Path(target).is_dir():
            loaded = load_adapter_dir(target)
            good += len(loaded.registry)
            errors += loaded.errors
            loaded.registry.close()
            continue
        try:
            load_adapter_file(target).close()
            good += 1
        except PortalError as exc:
            errors.append(exc)
    for error in errors:
        click.echo(f"error: {error.detail}", err=True)
    click.echo(f"{good} adapter(s) valid, {len(errors)} invalid")
    if errors:
        sys.exit(1)


@adapters.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True, help="The operator registering it (must own it, or be an admin).")
@with_appcontext
def adapters_add(path: Path, username: str) -> None:
    """Register an adapter TOML file in the database, as the given operator."""
    import tomllib

    from portal.audit.record import Actor
    from portal.db import get_database

    service = current_app.extensions["portal.catalog_service"]
    with get_database().session() as session:
        operator = operator_named(session, username)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
            info = service.create(session, operator, Actor(operator.username, operator.roles, "cli"), document)
        except tomllib.TOMLDecodeError as exc:
            raise click.ClickException(f"{path}: not valid TOML: {exc}")
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
    click.echo(f"registered {info.id} (version {info.version})")


@adapters.command("test")
@click.argument("adapter_id")
@click.argument("number")
@click.option("--as", "username", required=True, help="The operator running the test (owner or admin).")
@with_appcontext
def adapters_test(adapter_id: str, number: str, username: str) -> None:
    """Run one adapter for one customer number and show fields, timing and the raw answer."""
    from portal.audit.record import Actor
    from portal.db import get_database

    service = current_app.extensions["portal.catalog_service"]
    timeout = current_app.extensions["portal.settings"].lookup_deadline_s
    with get_database().session() as session:
        operator = operator_named(session, username)
        try:
            report = service.test(session, operator, Actor(operator.username, operator.roles, "cli"),
                                  adapter_id, number, timeout)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
    result = report.result
    click.echo(f"{adapter_id}: {result.status.value} in {result.elapsed_ms} ms" + (f" - {result.error}" if result.error else ""))
    for name, value in result.fields.items():
        click.echo(f"  {name:20} {value}")
    for name, rows in result.tables.items():
        click.echo(f"  table {name}: {len(rows)} row(s)")
        for row in rows[:5]:
            click.echo("    " + " | ".join(f"{k}={v}" for k, v in row.items()))
    if result.raw_excerpt:
        click.echo("--- raw answer (excerpt) ---")
        click.echo(result.raw_excerpt)
    if result.status.value != "ok":
        sys.exit(1)


def operator_named(session, username: str):
    """The operator a CLI command acts as (``--as``); the audit log names them."""
    from portal.accounts.service import Operator, find_user

    user = find_user(session, username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return Operator.of(user)
