"""``portal monitor`` (run the monitor), ``portal monitor status``, ``portal monitor maintenance``.

``portal monitor`` with no subcommand runs the monitor until interrupted (SIGTERM or Ctrl+C),
like ``portal serve``; ``--once`` runs a single tick (cron, tests, a quick look). Start it on as
many machines as you like: one holds the lease and acts, the others wait and say so.
"""

from __future__ import annotations

import time
from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from portal import clock
from portal.monitor.checker import CURSOR_NAME


@click.group("monitor", invoke_without_command=True)
@click.option("--once", is_flag=True, help="Run one tick and exit (for cron and tests).")
@click.pass_context
def monitor(ctx: click.Context, once: bool) -> None:
    """Watch the back-office systems and alert people; without a subcommand: run the monitor."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run_command, once=once)


@monitor.command("run")
@click.option("--once", is_flag=True, help="Run one tick and exit (for cron and tests).")
@with_appcontext
def run_command(once: bool) -> None:
    """Run the monitor until interrupted (the same as `portal monitor`)."""
    from portal.monitor.runner import Monitor
    from portal.signals import interrupt_on_sigterm

    runner = Monitor.from_app(current_app._get_current_object())
    settings = runner.settings
    if once:
        try:
            result = runner.tick()
        finally:
            runner.close()
        if not result.leader:
            click.echo(f"waiting: the {runner.lease.description} is held by {runner.lease.current_holder() or '?'}")
            return
        report = result.report
        click.echo(f"monitor {runner.lease.holder} holds the {runner.lease.description}")
        if report is not None:
            click.echo(f"{report.probes} probes, {report.lookups} lookups read, {report.observations} observations, "
                       f"{len(report.transitions)} state changes")
            for system_id, change in report.transitions:
                click.echo(f"  {system_id}: {change.from_state} -> {change.to_state} ({change.reason})")
        for error in result.errors:
            click.echo(f"  problem: {error}")
        return

    click.echo(f"monitor {runner.lease.holder}: checking every {settings.monitor_tick_s:g} s; only the holder of the "
               f"{runner.lease.description} acts. Press Ctrl+C to stop.")
    interrupt_on_sigterm()
    thread = runner.start_thread()
    leader: bool | None = None
    try:
        while thread.is_alive():
            # Sleep, not thread.join(timeout): a join cut short by SIGTERM's KeyboardInterrupt can leave
            # the thread looking finished, and the lease would not be released before the process exits.
            time.sleep(0.5)
            if runner.leader != leader:
                leader = runner.leader
                if leader:
                    click.echo(f"holding the {runner.lease.description}: probing, recording and alerting")
                else:
                    click.echo(f"waiting: the {runner.lease.description} is held by "
                               f"{_holder(runner) or 'nobody yet'}")
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
        click.echo("monitor stopped (lease released)")


def _holder(runner) -> str | None:
    try:
        return runner.lease.current_holder()
    except Exception:  # the lease store is unreachable: say so by saying nothing
        return None


@monitor.command("status")
@with_appcontext
def status_command() -> None:
    """Each system's state, since when, last latency and error; who holds the monitor's lease."""
    from portal.monitor import readings
    from portal.monitor.lease import make_lease
    from portal.monitor.models import MonitorLease

    app = current_app._get_current_object()
    database = app.extensions["portal.db"]
    lease = make_lease(app.extensions["portal.settings"], database)
    try:
        holder = _holder_of(lease)
    finally:
        closer = getattr(lease, "close", None)
        if closer:
            closer()
    now = clock.utcnow()
    with database.session() as session:
        rows = readings.current_states(session)
        cursor = session.get(MonitorLease, CURSOR_NAME)
        last = (cursor.holder, cursor.renewed_at) if cursor is not None else None
    click.echo(f"lease: {lease.description} held by {holder}" if holder
               else f"lease: {lease.description} is free: no monitor is acting")
    if last is not None and last[1].year > 1970:
        click.echo(f"last recorded by {last[0]} {_ago(now, last[1])}")
    if not rows:
        click.echo("no system has been checked yet (is `portal monitor` running?)")
        return
    click.echo(f"{'SYSTEM':12} {'STATE':9} {'SINCE':20} {'LATENCY':>8}  LAST ERROR")
    for row in rows:
        latency = f"{row.last_latency_ms} ms" if row.last_latency_ms is not None else "-"
        since = row.since.strftime("%Y-%m-%d %H:%M:%S") if row.since else "-"
        click.echo(f"{row.system_id:12} {row.state:9} {since:20} {latency:>8}  {row.last_error or '-'}")


def _holder_of(lease) -> str | None:
    try:
        return lease.current_holder()
    except Exception as exc:
        raise click.ClickException(f"the {lease.description} cannot be read: {exc}") from exc


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def _add_maintenance() -> None:
    """``portal monitor maintenance`` lives in its own module (planned outages); add it when installed."""
    try:
        from portal.monitor.maintenance_cli import maintenance
    except ImportError:
        return
    monitor.add_command(maintenance)


_add_maintenance()
