"""`portal monitor maintenance ...`: open, list and cancel maintenance windows from the command line.

Registered under ``portal monitor`` by the monitor CLI. Every change goes through
:mod:`portal.monitor.maintenance` as the operator named by ``--as``, so it is
authorised and audited exactly like the same change made on the pages.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from portal import clock
from portal.errors import PortalError

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def parse_duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1d``, ``1h30m`` -> a timedelta (at least a minute)."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or not match or not any(match.groups()):
        raise click.BadParameter(f"{text!r}: use e.g. 30m, 2h, 1d or 1h30m", param_hint="--for")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    length = timedelta(days=days, hours=hours, minutes=minutes)
    if length <= timedelta(0):
        raise click.BadParameter("must be longer than zero", param_hint="--for")
    return length


@click.group()
def maintenance() -> None:
    """Maintenance windows: planned outages during which a system's alerts are silenced."""


@maintenance.command("add")
@click.argument("system_id")
@click.option("--for", "length", help="How long, from the start: 30m, 2h, 1d, 1h30m.")
@click.option("--until", "until", help="The end, ISO 8601 (UTC unless it names a zone), e.g. 2026-11-24T23:00Z.")
@click.option("--from", "start", help="The start, ISO 8601; default: now.")
@click.option("--reason", required=True, help="Why (shown on the monitor page and in the audit log).")
@click.option("--as", "username", required=True, help="The operator opening it (monitor.manage, or the owner).")
@with_appcontext
def maintenance_add(system_id: str, length: str | None, until: str | None, start: str | None, reason: str,
                    username: str) -> None:
    """Silence SYSTEM_ID (or '*' for every system) for a while."""
    from portal.monitor import maintenance as service

    if (length is None) == (until is None):
        raise click.UsageError("give exactly one of --for and --until")
    now = clock.utcnow()
    with _session() as session:
        operator, actor, systems = _context(session, username)
        try:
            starts_at = service.parse_time(start, "--from") if start else now
            ends_at = starts_at + parse_duration(length) if length else service.parse_time(until, "--until")
            window = service.create(session, operator, actor, systems, system_id=system_id,
                                    starts_at=starts_at, ends_at=ends_at, reason=reason, now=now)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        click.echo(f"window {window.id}: {window.system_id} silenced from {_when(window.starts_at)} "
                   f"until {_when(window.ends_at)}")


@maintenance.command("list")
@click.option("--all", "include_past", is_flag=True, help="Also ended and cancelled windows.")
@with_appcontext
def maintenance_list(include_past: bool) -> None:
    """Current and upcoming windows (with --all, past ones too)."""
    from portal.monitor import maintenance as service

    now = clock.utcnow()
    with _session() as session:
        windows = service.list_windows(session, include_past=include_past, now=now)
    if not windows:
        click.echo("no maintenance windows")
    for window in windows:
        click.echo(f"{window.id:5} {window.system_id:14} {service.window_status(window, now):10} "
                   f"{_when(window.starts_at)} -> {_when(window.ends_at)}  {window.created_by}: {window.reason}")


@maintenance.command("cancel")
@click.argument("window_id", type=int)
@click.option("--as", "username", required=True, help="The operator cancelling it.")
@with_appcontext
def maintenance_cancel(window_id: int, username: str) -> None:
    """End a current window now, or drop an upcoming one."""
    from portal.monitor import maintenance as service

    with _session() as session:
        operator, actor, systems = _context(session, username)
        try:
            window = service.cancel(session, operator, actor, systems, window_id)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        click.echo(f"window {window.id} ({window.system_id}) cancelled")


def _session():
    """The command's unit of work: committed when it ends, rolled back when it fails."""
    from portal.db import get_database, unit_of_work

    return unit_of_work(get_database())


def _context(session, username: str):
    """(operator, audit actor, systems) for a command run ``--as`` someone."""
    from portal.audit.record import Actor
    from portal.catalog.cli import operator_named
    from portal.monitor.systems import systems_of

    operator = operator_named(session, username)
    systems = systems_of(current_app.extensions["portal.catalog"].adapters(session))
    return operator, Actor(operator.username, operator.roles, "cli"), systems


def _when(moment: datetime) -> str:

    return moment.strftime("%Y-%m-%d %H:%MZ")
