"""``portal audit verify|export|prune``."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from portal.audit import query
from portal.audit.export import csv_lines, event_document, jsonl_lines
from portal.audit.record import Actor, Event, record
from portal.errors import RequestError


@click.group()
def audit() -> None:
    """The operation log: verify the chain, export, apply the retention policy."""


def _session():
    from portal.db import get_database

    return get_database().session()


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--since-checkpoint", is_flag=True,
              help="Start where the last successful verification ended (fast; run a full one regularly too).")
@with_appcontext
def verify_command(as_json: bool, since_checkpoint: bool) -> None:
    """Check the hash chain; exit 1 and name each modified, deleted, inserted or reordered event."""
    with _session() as session:
        report = query.verify(session, since_checkpoint=since_checkpoint)
        record(session, Actor("cli"), Event(action="audit.verify", outcome="success" if report.ok else "failure",
                                            details=query.verification_details(report)))
        session.commit()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        start = (f"the checkpoint at seq {report.anchor_seq}" if report.from_checkpoint
                 else f"anchor seq {report.anchor_seq}" if report.anchor_seq else "the beginning")
        click.echo(f"checked {report.checked} events from {start} to head seq {report.head_seq}")
        for problem in report.problems:
            where = f"seq {problem.seq}" if problem.seq is not None else "-"
            click.echo(f"  {problem.kind.upper():9} {where}: {problem.detail}")
        click.echo("chain OK" if report.ok else f"chain BROKEN: {len(report.problems)} problem(s)")
    sys.exit(0 if report.ok else 1)


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default="-",
              help="File to write (default: standard output).")
@click.option("--actor")
@click.option("--action", help="Exact, or a prefix ending in '*' (auth.*).")
@click.option("--customer")
@click.option("--system")
@click.option("--outcome")
@click.option("--since", help="ISO 8601 time, inclusive.")
@click.option("--until", help="ISO 8601 time, exclusive.")
@with_appcontext
def export_command(fmt: str, output: str, **filters) -> None:
    """Stream matching events, oldest first, as JSON Lines or CSV (the export is itself audited)."""
    try:
        chosen = query.Filters.from_args({k: v for k, v in filters.items() if v})
    except RequestError as exc:
        raise click.UsageError(exc.detail) from exc
    with _session() as session:
        record(session, Actor("cli"), Event(action="audit.export", details={"format": fmt, "filters": chosen.as_args(),
                                                                            "output": output}))
        session.commit()
        render = csv_lines if fmt == "csv" else jsonl_lines
        out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8", newline="")
        count = 0
        try:
            for line in render(event_document(row) for row in query.stream(session, chosen)):
                out.write(line)
                count += 1
        finally:
            if output != "-":
                out.close()
    if output != "-":
        click.echo(f"exported {count - (1 if fmt == 'csv' else 0)} events to {output}", err=True)


@audit.command("prune")
@click.option("--days", type=int, help="Keep this many days (default: the audit_retention_days setting).")
@click.option("--archive-dir", type=click.Path(file_okay=False), help="Where archives go (default: data_dir/audit-archive).")
@with_appcontext
def prune_command(days: int | None, archive_dir: str | None) -> None:
    """Archive events older than the retention period to JSON Lines with the chain anchor, then prune them."""
    from portal.audit import retention

    with _session() as session:
        result = retention.apply(session, days=days, archive_dir=archive_dir)
    if result is None:
        click.echo("nothing to archive")
        return
    click.echo(f"archived {result.count} events (seq {result.first_seq}..{result.seq}) to {result.archive}; "
               f"the chain continues from anchor {result.hash[:16]}…")


@audit.command("verify-archive")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def verify_archive_command(path: str) -> None:
    """Check a retention archive on its own: every event's hash and link, and its trailing anchor."""
    from portal.audit import retention

    report = retention.verify_archive(path)
    click.echo(f"{report['count']} events, anchor seq {(report['anchor'] or {}).get('seq')}, sha256 {report['sha256']}")
    for problem in report["problems"]:
        click.echo(f"  {problem}")
    click.echo("archive OK" if report["ok"] else "archive BROKEN")
    sys.exit(0 if report["ok"] else 1)
