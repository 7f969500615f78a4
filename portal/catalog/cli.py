"""`portal adapters ...`: list, check, register, test adapters and take their versions live from the command line.

Each command is one unit of work: it commits when the service returns, nothing when it refuses.
"""

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
    """Validate adapter files without running them (default: the configured adapters folder), within the
    egress policy and credential bindings of this portal."""
    from portal.adapters.registry import load_adapter_dir, load_adapter_file

    targets = paths or (current_app.extensions["portal.settings"].adapters_dir,)
    boundary = current_app.extensions["portal.boundary"]  # the egress policy and bindings the portal enforces
    good, errors = 0, []
    for target in targets:
        if Path(target).is_dir():
            loaded = load_adapter_dir(target, boundary)
            good += len(loaded.registry)
            errors += loaded.errors
            loaded.registry.close()
            continue
        try:
            load_adapter_file(target, boundary).close()
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

    from portal.db import get_database, unit_of_work

    service = current_app.extensions["portal.catalog_service"]
    with unit_of_work(get_database()) as session:
        operator = operator_named(session, username)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
            info = service.create(session, operator, cli_actor(operator), document)
        except tomllib.TOMLDecodeError as exc:
            raise click.ClickException(f"{path}: not valid TOML: {exc}") from exc
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
    click.echo(f"registered {info.id} as draft version {info.version}; "
               "agents see it once it is approved and promoted")


@adapters.command("test")
@click.argument("adapter_id")
@click.argument("number")
@click.option("--as", "username", required=True, help="The operator running the test (owner, approver or admin).")
@click.option("--version", type=click.IntRange(min=1), help="The version to run (default: the newest).")
@with_appcontext
def adapters_test(adapter_id: str, number: str, username: str, version: int | None) -> None:
    """Run one adapter version for one customer number: fields as your roles see them, timing, and the raw
    answer if you hold adapters.raw."""
    from portal.db import get_database, unit_of_work

    console = current_app.extensions["portal.catalog_console"]
    timeout = current_app.extensions["portal.settings"].lookup_deadline_s
    with unit_of_work(get_database()) as session:
        operator = operator_named(session, username)
        try:
            report = console.test(session, operator, cli_actor(operator), adapter_id, number, timeout,
                                  version=version)
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


@adapters.command("versions")
@click.argument("adapter_id")
@click.option("--as", "username", required=True, help="The operator asking (owner, approver or admin).")
@with_appcontext
def adapters_versions(adapter_id: str, username: str) -> None:
    """List an adapter's versions with their state (draft, approved, live, retired)."""
    from portal.db import get_database

    service = current_app.extensions["portal.catalog_service"]
    with get_database().session() as session:
        try:
            versions = service.history(session, operator_named(session, username), adapter_id)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
    for v in versions:
        approved = f" approved by {v.approved_by}" if v.approved_by else ""
        click.echo(f"{v.version:>4} {v.state:9} {v.change:7} by {v.changed_by} at {v.changed_at:%Y-%m-%d %H:%M}{approved}")


def _step(username: str, run) -> None:
    """Run one lifecycle step as ``username`` in one unit of work, and say what changed."""
    from portal.db import get_database, unit_of_work

    lifecycle = current_app.extensions["portal.catalog_lifecycle"]
    with unit_of_work(get_database()) as session:
        operator = operator_named(session, username)
        try:
            done = run(lifecycle, session, operator, cli_actor(operator))
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
    live = f"version {done.live_after} is live" if done.live_after else "no version is live"
    click.echo(f"{done.adapter_id}: {done.action} {done.version if done.version else ''}".rstrip() + f"; {live}")


AS_OPTION = click.option("--as", "username", required=True, help="The operator taking the step (audited).")


@adapters.command("approve")
@click.argument("adapter_id")
@click.argument("version", type=click.IntRange(min=1))
@AS_OPTION
@with_appcontext
def adapters_approve(adapter_id: str, version: int, username: str) -> None:
    """Approve a draft version (adapters.approve; by default not its author)."""
    _step(username, lambda lc, s, op, actor: lc.approve(s, op, actor, adapter_id, version))


@adapters.command("promote")
@click.argument("adapter_id")
@click.argument("version", type=click.IntRange(min=1))
@AS_OPTION
@with_appcontext
def adapters_promote(adapter_id: str, version: int, username: str) -> None:
    """Make an approved version the live one."""
    _step(username, lambda lc, s, op, actor: lc.promote(s, op, actor, adapter_id, version))


@adapters.command("rollback")
@click.argument("adapter_id")
@click.option("--to", "to_version", type=click.IntRange(min=1), help="Default: the previous approved version.")
@AS_OPTION
@with_appcontext
def adapters_rollback(adapter_id: str, to_version: int | None, username: str) -> None:
    """Make an earlier approved version live again, in one step."""
    _step(username, lambda lc, s, op, actor: lc.rollback(s, op, actor, adapter_id, to_version))


@adapters.command("retire")
@click.argument("adapter_id")
@click.argument("version", type=click.IntRange(min=1), required=False)
@AS_OPTION
@with_appcontext
def adapters_retire(adapter_id: str, version: int | None, username: str) -> None:
    """Retire a version (default: the live one, which takes the system out of agents' view)."""
    _step(username, lambda lc, s, op, actor: lc.retire(s, op, actor, adapter_id, version))


@adapters.command("shadow")
@click.argument("adapter_id")
@click.argument("version", type=click.IntRange(min=1), required=False)
@click.option("--off", is_flag=True, help="Stop the shadow run.")
@click.option("--report", "report", is_flag=True, help="Show how the candidate agreed with the live version.")
@click.option("--as", "username", required=True, help="The operator (owner or admin).")
@with_appcontext
def adapters_shadow(adapter_id: str, version: int | None, off: bool, report: bool, username: str) -> None:
    """Run a candidate version beside the live one on real lookups, stop it, or show the comparison."""
    if report:
        _shadow_report(adapter_id, version, username)
        return
    if off == (version is not None):
        raise click.UsageError("give a VERSION to start a shadow run, or --off to stop it")
    _step(username, lambda lc, s, op, actor: lc.shadow(s, op, actor, adapter_id, None if off else version))


def _shadow_report(adapter_id: str, version: int | None, username: str) -> None:
    from portal.catalog.shadow import shadow_report
    from portal.db import get_database

    service = current_app.extensions["portal.catalog_service"]
    with get_database().session() as session:
        try:
            info = service.get(session, operator_named(session, username), adapter_id)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        version = version or info.shadow_version
        if version is None:
            raise click.ClickException(f"{adapter_id} has no shadow run; name the candidate version")
        found = shadow_report(session, adapter_id, version)
    agreement = "-" if found.status_agreement is None else f"{found.status_agreement:.0%}"
    click.echo(f"{adapter_id} v{version}: {found.lookups} lookup(s), statuses agreed {agreement}")
    for pair, count in found.statuses.items():
        click.echo(f"  status {pair}: {count}")
    for name, counts in found.fields.items():
        share = "-" if counts["agreement"] is None else f"{counts['agreement']:.0%}"
        click.echo(f"  field {name:20} same {counts['same']:>4}  differs {counts['differs']:>4}  "
                   f"missing {counts['missing']:>4}  new {counts['new']:>4}  agreement {share}")


def cli_actor(operator):
    from portal.audit.record import Actor

    return Actor(operator.username, operator.roles, "cli")


def operator_named(session, username: str):
    """The operator a CLI command acts as (``--as``); the audit log names them."""
    from portal.accounts.service import Operator, find_user

    user = find_user(session, username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return Operator.of(user)
