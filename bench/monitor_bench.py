"""The monitor, from one run: how soon people hear of an outage, and whether it keeps up with lookups.

1. **Alert delay.** The monitor runs in a thread (probe interval 1 s, tick 0.1 s, down after 3
   failures, up after 2 answers) with a real SMTP server on loopback. BOSS is stopped and started
   again, five times; each time the delay until the "DOWN" and the "RECOVERED" e-mail arrives is
   measured and divided by its floor, the hysteresis itself (down_after x interval, up_after x
   interval). A ratio near 1 means the monitor adds next to nothing to the wait it chose to make.
2. **Keeping up with lookups.** 20,000 audited lookups of twelve systems are written through the
   audit chain (as agents' lookups would be), then the monitor reads them. Printed: both rates and
   their ratio (monitor reading / portal writing); above 1 the monitor keeps up with the most the
   portal can record.

Run: ``python bench/monitor_bench.py [--postgres]`` (stop ``portal demo`` first: it uses the back office's ports).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from portal.demo.backoffice import BackOffice  # noqa: E402
from tests.monitor.receivers import SmtpReceiver, alert_overrides  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
INTERVAL_S, DOWN_AFTER, UP_AFTER = 1.0, 3, 2
SYSTEMS = [f"sys{n:02d}" for n in range(12)]


def make_app(tmp: Path, database_url: str, smtp: SmtpReceiver):
    from portal import create_app, migrate
    from portal.accounts.service import create_user
    from portal.db import get_database

    adapters = tmp / "adapters"
    adapters.mkdir()
    shutil.copy(REPO / "config" / "adapters" / "boss.toml", adapters / "boss.toml")
    app = create_app({
        "database_url": database_url, "data_dir": str(tmp), "secret_key": "bench", "adapters_dir": str(adapters),
        "log_level": "WARNING", "monitor_interval_s": INTERVAL_S, "monitor_tick_s": 0.1,
        "monitor_down_after": DOWN_AFTER, "monitor_up_after": UP_AFTER, "alerts_max_per_hour": 100,
        **alert_overrides(smtp),
    })
    with app.app_context():
        migrate.upgrade(get_database().engine)
        with get_database().session() as session:
            admin = create_user(session, "root", "bench-password-1", ["admin"])
            admin.email = "root@example.test"
            session.commit()
    return app


def wait_for_mail(smtp: SmtpReceiver, count: int, started: float) -> float:
    smtp.wait_for(count, timeout=60)
    return time.monotonic() - started


def alert_delays(app, office: BackOffice, smtp: SmtpReceiver, rounds: int) -> tuple[list[float], list[float]]:
    from portal.monitor.runner import Monitor

    monitor = Monitor.from_app(app)
    monitor.start_thread()
    try:
        time.sleep(3 * INTERVAL_S)  # BOSS seen up first
        downs, ups = [], []
        for n in range(rounds):
            started = time.monotonic()
            office.stop_system("boss")
            downs.append(wait_for_mail(smtp, 2 * n + 1, started))
            started = time.monotonic()
            office.start_system("boss")
            ups.append(wait_for_mail(smtp, 2 * n + 2, started))
    finally:
        monitor.stop()
    return downs, ups


def ingest_rates(app, lookups: int) -> tuple[float, float]:
    from portal.audit.record import Actor, Event, record
    from portal.monitor.checker import HealthChecker
    from portal.monitor.runner import Monitor

    database = app.extensions["portal.db"]
    monitor = Monitor.from_app(app, checker=HealthChecker(app.extensions["portal.settings"], batch=5000))
    monitor.tick()  # the first tick starts at the end of the log
    started = time.perf_counter()
    with database.session() as session:
        for n in range(lookups):
            record(session, Actor("agent"), Event(action="customer.lookup", customer=f"138{n:08d}", details={
                "elapsed_ms": 120, "systems": {s: "ok" for s in SYSTEMS}, "latency_ms": {s: 50 + i * 10 for i, s in
                                                                                        enumerate(SYSTEMS)},
                "not_attempted": []}))
            if n % 500 == 499:
                session.commit()
        session.commit()
    write_rate = lookups / (time.perf_counter() - started)
    started = time.perf_counter()
    read = 0
    while read < lookups:
        result = monitor.tick()
        got = result.report.lookups if result.report is not None else 0
        if not got:
            break
        read += got
    read_rate = read / (time.perf_counter() - started)
    monitor.close()
    return write_rate, read_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", action="store_true", help=f"use {PG_URL} (emptied) instead of SQLite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, SmtpReceiver() as smtp, BackOffice() as office:
        url = f"sqlite:///{tmp}/bench.db"
        if args.postgres:
            from tests.conftest import _reset_postgres

            _reset_postgres(PG_URL)
            url = PG_URL
        app = make_app(Path(tmp), url, smtp)
        downs, ups = alert_delays(app, office, smtp, args.rounds)
        down_floor, up_floor = DOWN_AFTER * INTERVAL_S, UP_AFTER * INTERVAL_S
        print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}; {args.rounds} outages of BOSS")
        print(f"down alert:      median {statistics.median(downs):5.2f} s, max {max(downs):5.2f} s;"
              f" / floor {down_floor:.0f} s = {statistics.median(downs) / down_floor:.2f} (max {max(downs) / down_floor:.2f})")
        print(f"recovered alert: median {statistics.median(ups):5.2f} s, max {max(ups):5.2f} s;"
              f" / floor {up_floor:.0f} s = {statistics.median(ups) / up_floor:.2f} (max {max(ups) / up_floor:.2f})")
        write_rate, read_rate = ingest_rates(app, args.lookups)
        print(f"lookups audited by the portal: {write_rate:8.0f}/s; read by the monitor: {read_rate:8.0f}/s;"
              f" ratio {read_rate / write_rate:.1f}")
        app.extensions["portal.catalog"].close()
        app.extensions["portal.db"].dispose()


if __name__ == "__main__":
    main()
