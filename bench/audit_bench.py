"""The operation log at one million events on PostgreSQL: filtered queries, export memory, verify, writes.

In a private database (created and dropped here; ``--url`` to use another), it:

1. writes N hash-chained events (default 1,000,000) the way ``record()`` chains them, bulk-loaded with
   COPY (30 days, 200 operators, 100,000 customers, 12 systems; lookups name 3-12 systems each);
2. times the auditor's filtered, keyset-paged queries (``portal.audit.query.page``): p50/p95 per filter;
3. streams exports of 10% and 100% of the log to /dev/null in child processes and compares their peak
   memory (bounded memory: the ratio stays near 1 while the row count grows tenfold);
4. verifies the whole chain (events per second);
5. writes through ``record()`` from 1 and from 4 processes (one chain, serialised by the lock).

Run: ``python bench/audit_bench.py [--events 1000000] [--keep]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.audit.chain import GENESIS, event_hash  # noqa: E402

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SYSTEMS = ["boss", "rbt", "smsc", "wap", "mail", "vas", "mnp", "loyalty", "payments", "complaints", "roaming", "mms"]
STATUSES = ["ok"] * 90 + ["not_found"] * 5 + ["timeout"] * 3 + ["error"] * 2
ACTIONS = ([("customer.lookup", 0.62), ("system.open", 0.15), ("customer.reveal", 0.06), ("auth.login", 0.07),
            ("auth.logout", 0.05), ("auth.login_failed", 0.02), ("auth.timeout", 0.02), ("user.update", 0.005),
            ("adapter.test", 0.005)])


def generate(count: int, seed: int = 7):
    rnd = random.Random(seed)
    actors = [f"agent{i:03d}" for i in range(200)]
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / count
    names, weights = zip(*ACTIONS, strict=True)
    prev = GENESIS
    for seq in range(1, count + 1):
        action = rnd.choices(names, weights)[0]
        actor = rnd.choice(actors)
        customer = f"138{rnd.randrange(100000):08d}" if action.startswith(("customer.", "system.")) else None
        outcome = "success"
        details: dict = {}
        systems: list[tuple[str, str, int]] = []
        target = None
        if action == "customer.lookup":
            if rnd.random() < 0.02:
                outcome = "denied"
            else:
                chosen = rnd.sample(SYSTEMS, rnd.randint(3, 12))
                systems = [(s, rnd.choice(STATUSES), rnd.randint(20, 400)) for s in chosen]
                details = {"elapsed_ms": max(e for _, _, e in systems), "systems": {s: st for s, st, _ in systems},
                           "latency_ms": {s: e for s, _, e in systems}}
        elif action in ("system.open", "adapter.test"):
            target = rnd.choice(SYSTEMS)
            systems = [(target, None, None)]
        elif action == "customer.reveal":
            target = "boss.id_number"
            systems = [("boss", None, None)]
        elif action == "auth.login_failed":
            outcome, target = "failure", actor
        row = {"occurred_at": start + step * seq, "actor": actor, "roles": ["agent"], "action": action,
               "target": target, "customer": customer, "outcome": outcome,
               "client_addr": f"10.{rnd.randrange(4)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
               "correlation_id": None, "details": details}
        digest = event_hash(row, prev)
        yield seq, row, prev, digest, systems
        prev = digest


def load(url: str, count: int) -> tuple[float, str]:
    engine = create_engine(url)
    started = time.perf_counter()
    last = GENESIS
    raw, side = engine.raw_connection(), engine.raw_connection()  # two COPY streams at once
    try:
        cursor, side_cursor = raw.cursor(), side.cursor()
        with cursor.copy("COPY audit_events (seq, occurred_at, actor, roles, action, target, customer, outcome, "
                         "client_addr, correlation_id, details, prev_hash, hash) FROM STDIN") as events, \
                side_cursor.copy("COPY audit_event_systems (seq, system, status, elapsed_ms) FROM STDIN") as touched:
            for seq, row, prev, digest, systems in generate(count):
                events.write_row((seq, row["occurred_at"], row["actor"], json.dumps(row["roles"]), row["action"],
                                  row["target"], row["customer"], row["outcome"], row["client_addr"], None,
                                  json.dumps(row["details"]), prev, digest))
                for item in systems:
                    touched.write_row((seq, *item))
                last = digest
        side.commit()
        cursor.execute("UPDATE audit_chain_head SET seq = %s, hash = %s WHERE id = 1", (count, last))
        raw.commit()
        cursor.execute("ANALYZE audit_events")
        cursor.execute("ANALYZE audit_event_systems")
        raw.commit()
    finally:
        raw.close()
        side.close()
    engine.dispose()
    return time.perf_counter() - started, last


def queries(url: str, repeats: int) -> list[tuple[str, float, float]]:
    from sqlalchemy.orm import Session

    from portal.audit import query
    from portal.db import make_engine

    engine = make_engine(url)
    rnd = random.Random(11)
    now = datetime.now(UTC)
    day = lambda d: (now - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    cases = {
        "newest page, no filter": lambda: {},
        "actor": lambda: {"actor": f"agent{rnd.randrange(200):03d}"},
        "customer": lambda: {"customer": f"138{rnd.randrange(100000):08d}"},
        "action=customer.reveal": lambda: {"action": "customer.reveal"},
        "action prefix auth.*": lambda: {"action": "auth.*"},
        "system": lambda: {"system": rnd.choice(SYSTEMS)},
        "outcome=denied": lambda: {"outcome": "denied"},
        "one day (since+until)": lambda: (lambda d: {"since": day(d), "until": day(d - 1)})(rnd.randint(2, 29)),
        "actor + one week": lambda: (lambda d: {"actor": f"agent{rnd.randrange(200):03d}", "since": day(d),
                                                "until": day(d - 7)})(rnd.randint(8, 29)),
        "system + one day": lambda: (lambda d: {"system": rnd.choice(SYSTEMS), "since": day(d),
                                                "until": day(d - 1)})(rnd.randint(2, 29)),
        "customer + failure outcome": lambda: {"customer": f"138{rnd.randrange(100000):08d}", "outcome": "failure"},
        "actor, page 20 (cursor)": None,
    }
    results = []
    with Session(engine) as session:
        for name, make in cases.items():
            times = []
            for _ in range(repeats):
                if make is None:
                    filters = query.Filters(actor=f"agent{rnd.randrange(200):03d}")
                    cursor = None
                    for _ in range(19):
                        cursor = query.page(session, filters, limit=50, cursor=cursor).next_cursor
                    started = time.perf_counter()
                    query.page(session, filters, limit=50, cursor=cursor)
                else:
                    filters = query.Filters.from_args(make())
                    started = time.perf_counter()
                    query.page(session, filters, limit=50)
                times.append((time.perf_counter() - started) * 1000)
                session.expunge_all()
            times.sort()
            results.append((name, statistics.median(times), times[int(0.95 * (len(times) - 1))]))
    engine.dispose()
    return results


EXPORT_CHILD = """
import resource, sys, time
from sqlalchemy.orm import Session
from portal.audit import query
from portal.audit.export import event_document, jsonl_lines
from portal.db import make_engine
url, until = sys.argv[1], sys.argv[2]
engine = make_engine(url)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
n = 0
with Session(engine) as session, open("/dev/null", "w") as out:
    filters = query.Filters.from_args({"until": until} if until != "-" else {})
    for line in jsonl_lines(event_document(row) for row in query.stream(session, filters)):
        out.write(line)
        n += 1
print(n, time.perf_counter() - started, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def export(url: str, until: str) -> tuple[int, float, int, int]:
    out = subprocess.run([sys.executable, "-c", EXPORT_CHILD, url, until], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    n, seconds, base, peak = out.stdout.split()
    return int(n), float(seconds), int(base), int(peak)


WRITER = """
import sys, time
from sqlalchemy.orm import sessionmaker
from portal.audit.record import Actor, Event, record
from portal.db import make_engine
url, count = sys.argv[1], int(sys.argv[2])
sessions = sessionmaker(make_engine(url), expire_on_commit=False)
started = time.perf_counter()
with sessions() as session:
    for i in range(count):
        record(session, Actor("bench"), Event(action="customer.lookup", customer="13800000000",
                                              details={"systems": {"boss": "ok", "smsc": "ok"}}))
        session.commit()
print(time.perf_counter() - started)
"""


def writers(url: str, processes: int, count: int) -> float:
    started = time.perf_counter()
    children = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(count)], stdout=subprocess.PIPE,
                                 cwd=Path(__file__).resolve().parent.parent) for _ in range(processes)]
    for child in children:
        child.wait()
        assert child.returncode == 0
    return processes * count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the private database afterwards")
    args = parser.parse_args()

    from portal import migrate
    from portal.db import make_engine

    name = f"audit_bench_{uuid.uuid4().hex[:6]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        print(f"database {name}: loading {args.events:,} chained events ...", flush=True)
        seconds, _ = load(url, args.events)
        print(f"  loaded in {seconds:.1f} s ({args.events / seconds:,.0f} events/s, hashing included)")

        print(f"\nfiltered queries, one page of 50, {args.repeats} runs each (ms):")
        print(f"  {'filter':32} {'p50':>8} {'p95':>8}")
        worst = 0.0
        for label, p50, p95 in queries(url, args.repeats):
            worst = max(worst, p95)
            print(f"  {label:32} {p50:8.1f} {p95:8.1f}")
        print(f"  worst p95 {worst:.1f} ms; target 200 ms: ratio {worst / 200:.2f}")

        tenth = (datetime.now(UTC) - timedelta(days=27)).strftime("%Y-%m-%dT%H:%M:%SZ")
        print("\nexport to JSON Lines (child process; peak RSS):")
        small = export(url, tenth)
        full = export(url, "-")
        for label, (n, secs, base, peak) in (("~10%", small), ("100%", full)):
            print(f"  {label:5} {n:>9,} events in {secs:6.1f} s ({n / secs:,.0f}/s); peak RSS {peak / 1024:.0f} MiB "
                  f"(after imports {base / 1024:.0f} MiB)")
        print(f"  rows x{full[0] / max(small[0], 1):.1f} -> peak memory x{full[3] / small[3]:.2f} (bounded)")

        from sqlalchemy.orm import Session

        from portal.audit import query

        engine = make_engine(url)
        with Session(engine) as session:
            started = time.perf_counter()
            report = query.verify(session)
            secs = time.perf_counter() - started
        engine.dispose()
        print(f"\nverify: {report.checked:,} events in {secs:.1f} s ({report.checked / secs:,.0f}/s), ok={report.ok}")

        one = writers(url, 1, 500)
        four = writers(url, 4, 500)
        print(f"\nrecord() + commit: 1 process {one:,.0f} events/s; 4 processes {four:,.0f} events/s "
              f"(ratio {four / one:.2f}: one chain, writers serialised by the lock)")
        engine = make_engine(url)
        with Session(engine) as session:
            report = query.verify(session)
        engine.dispose()
        print(f"chain after the concurrent writes: ok={report.ok}, {report.checked:,} events")
    finally:
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
