"""Bulk import of 10,000 operators: dry run, apply, and the idempotent second apply, against 10 s.

Generates, in a temporary directory, a 10,000-operator CSV in the shape legacy exports have (Chinese
names, 启用/停用 status, legacy group names translated by a mapping file) with about 1% bad lines of
every kind, and the same file fixed. On a fresh database it times, through the engine the CLI, the
API and the upload page all use (``portal.accounts.importer.run_import``, audit included):

* dry run of the file with bad lines (each bad line reported by number, nothing written);
* apply of the file with bad lines (refused: nothing written);
* apply of the fixed file (10,000 operators created);
* the same apply again (every line unchanged);
* apply of a file where 10% of the operators changed (updates: contact data, status, roles).

SQLite always; PostgreSQL too with ``--postgres [URL]`` or when PORTAL_DATABASE_URL is set. On
PostgreSQL the run uses a schema of its own (dropped afterwards), never touching existing tables.

Run: ``python bench/import_operators.py [--operators 10000] [--postgres] [--encoding utf-8|gbk]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from portal import migrate  # noqa: E402
from portal.accounts.importer import ImportReport, ImportRequest, run_import  # noqa: E402
from portal.accounts.models import User  # noqa: E402
from portal.audit.record import Actor  # noqa: E402
from portal.db import Database  # noqa: E402

TARGET_S = 10.0
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HEADER = "username,name,email,phone,region,roles,status"
MAPPING = "legacy,role\nCSR,agent\nCSR_SENIOR,agent\nCSR_SENIOR,supervisor\n客服班长,supervisor\nQA,auditor\n"
REGIONS = ["north", "south", "east", "west", "华北", "华南"]
LEGACY_ROLES = ["CSR", "CSR_SENIOR", "客服班长", "QA|CSR", "agent"]
SURNAMES = "王李张刘陈杨黄赵吴周"
BAD_KINDS = ["email", "phone", "role", "duplicate", "username", "status", "cells"]


def good_line(i: int, changed: bool = False) -> str:
    region = REGIONS[i % len(REGIONS)]
    roles = LEGACY_ROLES[(i + changed) % len(LEGACY_ROLES)]
    status = "停用" if (i % 50 == 0) != changed else "启用"
    email = f"op{i:05d}@{'new.' if changed else ''}example.cn"
    return f"op{i:05d},{SURNAMES[i % 10]}{i:05d},{email},+86 138-{i:04d}-{i % 10000:04d},{region},{roles},{status}"


def bad_line(i: int, n: int) -> str:
    kind = BAD_KINDS[(i // 100) % len(BAD_KINDS)]
    line = good_line(i).split(",")
    if kind == "email":
        line[2] = "not-an-address"
    elif kind == "phone":
        line[3] = "138 0000 00x0"
    elif kind == "role":
        line[5] = "CSR|wizard"
    elif kind == "duplicate":
        line[0] = f"op{(i + 1) % n:05d}" if i == n - 1 else f"op{i - 1:05d}"
    elif kind == "username":
        line[0] = "has space"
    elif kind == "status":
        line[6] = "maybe"
    else:
        line = line[:5]
    return ",".join(line)


def write_files(directory: Path, n: int, encoding: str) -> dict[str, Path]:
    files = {
        "bad": [HEADER] + [bad_line(i, n) if i % 100 == 37 else good_line(i) for i in range(n)],
        "fixed": [HEADER] + [good_line(i) for i in range(n)],
        "changed": [HEADER] + [good_line(i, changed=i % 10 == 3) for i in range(n)],
    }
    paths = {}
    for name, lines in files.items():
        paths[name] = directory / f"operators-{name}.csv"
        paths[name].write_bytes(("\n".join(lines) + "\n").encode(encoding))
    paths["mapping"] = directory / "mapping.csv"
    paths["mapping"].write_text(MAPPING, encoding="utf-8")
    return paths


def timed(action: Callable[[], ImportReport]) -> tuple[float, ImportReport]:
    start = time.perf_counter()
    report = action()
    return time.perf_counter() - start, report


def run(database: Database, paths: dict[str, Path], label: str) -> list[float]:
    migrate.upgrade(database.engine)
    mapping = paths["mapping"].read_bytes()

    def importing(name: str, apply: bool) -> Callable[[], ImportReport]:
        def go() -> ImportReport:
            request = ImportRequest(data=paths[name].read_bytes(), filename=paths[name].name, mapping=mapping,
                                    mapping_filename="mapping.csv", apply=apply)
            with database.session() as session:
                return run_import(session, Actor("bench"), request)
        return go

    steps = [("dry run, ~1% bad lines", "bad", False), ("apply, ~1% bad lines (refused)", "bad", True),
             ("apply, fixed file", "fixed", True), ("apply again (all unchanged)", "fixed", True),
             ("apply, 10% changed", "changed", True)]
    print(f"\n{label}")
    times = []
    for title, name, apply in steps:
        seconds, report = timed(importing(name, apply))
        with database.session() as session:
            stored = session.scalar(select(func.count()).select_from(User))
        times.append(seconds)
        print(f"  {title:34} {seconds:6.2f} s  ({seconds / TARGET_S:.2f} of the {TARGET_S:.0f} s target)  "
              f"{report.summary.text()}; {report.outcome() if apply else 'dry run'}; {stored} operators stored")
    return times


def postgres_schema(url: str) -> tuple[str, str]:
    """A fresh schema and a URL whose connections use it first."""
    schema = f"bench_import_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return schema, f"{url}{separator}options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=10_000)
    parser.add_argument("--encoding", choices=["utf-8", "gbk"], default="utf-8")
    parser.add_argument("--postgres", nargs="?", const=os.environ.get("PORTAL_DATABASE_URL") or DEFAULT_POSTGRES,
                        default=os.environ.get("PORTAL_DATABASE_URL"), metavar="URL")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        paths = write_files(Path(tmp), args.operators, args.encoding)
        size = paths["bad"].stat().st_size
        print(f"{args.operators} operators, {args.encoding}, {size / 1e6:.2f} MB, "
              f"{sum(1 for i in range(args.operators) if i % 100 == 37)} bad lines; target {TARGET_S:.0f} s per step")
        database = Database(f"sqlite:///{tmp}/portal.db")
        try:
            run(database, paths, "SQLite")
        finally:
            database.dispose()
        if args.postgres:
            schema, url = postgres_schema(args.postgres)
            database = Database(url)
            try:
                run(database, paths, f"PostgreSQL (schema {schema})")
            finally:
                database.dispose()
                drop_schema(args.postgres, schema)


if __name__ == "__main__":
    main()
