"""Lookup latency against the slowest back-office system, from one run.

Starts the twelve simulated systems with latencies spread from 50 to 200 ms, then measures:

* each system alone, one after another (its own latency through its adapter);
* the engine's fan-out over all twelve;
* the whole portal request (``GET /api/v1/customers/{n}``: auth, fan-out, masking, audit write);
* a sequential baseline (twelve lookups one after another).

and prints p50/p95 and the ratios lookup / slowest system. Run: ``python bench/lookup_latency.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from portal.adapters.fanout import fan_out, make_executor  # noqa: E402
from portal.adapters.registry import load_adapter_dir  # noqa: E402
from portal.demo.backoffice import DEMO_CREDENTIALS, BackOffice  # noqa: E402
from portal.demo.catalogue import CATALOGUE  # noqa: E402

NUMBER = "13800000000"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def portal_client(tmp: str):
    from portal import create_app, migrate
    from portal.accounts.service import create_user, issue_token
    from portal.db import get_database

    app = create_app({
        "database_url": f"sqlite:///{tmp}/bench.db", "data_dir": tmp, "secret_key": "bench",
        "adapters_dir": str(REPO / "config" / "adapters"), "log_level": "WARNING",
    })
    with app.app_context():
        migrate.upgrade(get_database().engine)
        with get_database().session() as session:
            create_user(session, "bench", "bench-password", ["agent"])
            _, token = issue_token(session, "bench")
            session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def lookup():
        response = client.get(f"/api/v1/customers/{NUMBER}", headers=headers)
        assert response.status_code == 200, response.data
        assert all(s["status"] == "ok" for s in response.get_json()["systems"]), response.get_json()

    return lookup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    for system_id, (username, password) in DEMO_CREDENTIALS.items():
        os.environ.setdefault(f"PORTAL_CRED_{system_id.upper()}_USERNAME", username)
        os.environ.setdefault(f"PORTAL_CRED_{system_id.upper()}_PASSWORD", password)
    latency = {spec.id: 0.050 + i * 0.150 / (len(CATALOGUE) - 1) for i, spec in enumerate(CATALOGUE)}

    with BackOffice(latency=latency), tempfile.TemporaryDirectory() as tmp:
        loaded = load_adapter_dir(REPO / "config" / "adapters")
        assert not loaded.errors, loaded.errors
        adapters = list(loaded.registry)
        executor = make_executor(64)
        for adapter in adapters:  # warm up: WSDLs, logins, keep-alive connections
            adapter.lookup(NUMBER)

        own: dict[str, list[float]] = {a.id: [] for a in adapters}
        sequential, fanned, whole = [], [], []
        portal_lookup = portal_client(tmp)
        portal_lookup()
        for _ in range(args.rounds):
            sequential.append(sum(own[a.id].append(timed(lambda a=a: a.lookup(NUMBER))) or own[a.id][-1]
                                  for a in adapters))
            fanned.append(timed(lambda: fan_out(adapters, NUMBER, deadline_s=3.0, executor=executor)))
            whole.append(timed(portal_lookup))

        slowest_id = max(own, key=lambda k: statistics.median(own[k]))
        slowest = own[slowest_id]
        print(f"twelve systems, configured latency 50-200 ms, {args.rounds} rounds")
        print(f"{'':34}{'p50 ms':>10}{'p95 ms':>10}{'ratio p50':>11}{'ratio p95':>11}")

        def row(name: str, values: list[float]) -> None:
            p50, p95 = percentile(values, 50), percentile(values, 95)
            print(f"{name:34}{p50:10.1f}{p95:10.1f}{p50 / percentile(slowest, 50):11.3f}{p95 / percentile(slowest, 95):11.3f}")

        row(f"slowest system alone ({slowest_id})", slowest)
        row("engine fan-out, 12 systems", fanned)
        row("portal GET /api/v1/customers", whole)
        row("sequential baseline", sequential)
        executor.shutdown()
        loaded.registry.close()


if __name__ == "__main__":
    main()
