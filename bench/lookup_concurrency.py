"""Lookup latency over the slowest system's latency, at 1 and at 20 concurrent lookups, from one run.

Starts the twelve simulated systems with latencies spread from 50 to 200 ms, loads the real adapters
(``config/adapters`` via ``load_adapter_dir``) and measures, with one shared lookup pool:

* each system alone through its adapter, one after another: its own latency, and their sum per round
  (the sequential baseline: what an agent typing the number into twelve screens would wait, at best);
* the fan-out over all twelve (``portal.adapters.fanout.fan_out``: guards, retries, breakers and
  bulkheads included), one lookup at a time;
* the same with 20 threads each doing lookups back to back: once with the adapter files as they are
  (bulkhead ``max_concurrency`` 8 per system, so 20 concurrent lookups queue for every system, by
  design), once with a copy of the files raising ``max_concurrency`` to the number of threads.

Ratios are lookup latency / the slowest system's own latency (alone), p50 over p50 and p95 over p95.
The goal is <= 1.10. Run: ``python bench/lookup_concurrency.py [--rounds 40] [--backoffice thread]``.

By default the simulated back office runs in a child process: in production it is other machines,
and in this process it would compete with the portal for the interpreter lock, so the benchmark
would measure the fake. The lookup pool has 12 x 20 threads, as an app sized for 20 concurrent
lookups would. At the end the CPU used by each process during the 20-thread phase is printed: one
CPython process runs Python code on one core at a time, which is where the 20-thread ratio goes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from portal.adapters.base import Adapter, Status  # noqa: E402
from portal.adapters.fanout import fan_out, make_executor  # noqa: E402
from portal.adapters.registry import load_adapter_dir  # noqa: E402
from portal.demo.backoffice import DEMO_CREDENTIALS, BackOffice  # noqa: E402
from portal.demo.catalogue import CATALOGUE  # noqa: E402

NUMBER = "13800000000"
DEADLINE_S = 3.0
GOAL = 1.10


def latencies() -> dict[str, float]:
    """50 ms to 200 ms, evenly spread over the catalogue."""
    return {spec.id: 0.050 + i * 0.150 / (len(CATALOGUE) - 1) for i, spec in enumerate(CATALOGUE)}


def _serve(ready, stop) -> None:  # in the child process
    with BackOffice(latency=latencies()):
        ready.set()
        stop.wait()


class ChildBackOffice:
    """The back office in its own process, so it does not share the interpreter lock with the portal."""

    def __enter__(self) -> ChildBackOffice:
        context = mp.get_context("spawn")
        self.ready, self.stop = context.Event(), context.Event()
        self.process = context.Process(target=_serve, args=(self.ready, self.stop), daemon=True)
        self.process.start()
        if not self.ready.wait(30):
            self.process.terminate()
            raise SystemExit("the simulated back office did not start (are its ports free?)")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of ``pid`` (Linux /proc)."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def adapter_dir(tmp: str, max_concurrency: int | None) -> Path:
    """The real adapter files, or a copy of them with ``max_concurrency`` set."""
    source = REPO / "config" / "adapters"
    if max_concurrency is None:
        return source
    target = Path(tmp) / "adapters"
    target.mkdir()
    for file in sorted(source.glob("*.toml")):
        text = file.read_text(encoding="utf-8")
        # Top-level keys must come before the first [table]; "kind = ..." is always near the top.
        head, sep, rest = text.partition("\nkind = ")
        line, nl, tail = rest.partition("\n")
        (target / file.name).write_text(
            f"{head}{sep}{line}{nl}max_concurrency = {max_concurrency}\n{tail}", encoding="utf-8")
    shutil.copystat(source, target)
    return target


def checked_lookup(adapters: list[Adapter], executor) -> Callable[[], None]:
    def lookup() -> None:
        results = fan_out(adapters, NUMBER, deadline_s=DEADLINE_S, executor=executor)
        bad = [f"{r.system_id}: {r.status.value} {r.error}" for r in results if r.status is not Status.OK]
        if bad:
            failures.append("; ".join(bad))

    return lookup


failures: list[str] = []


def concurrent(lookup: Callable[[], None], threads: int, per_thread: int) -> tuple[list[float], float]:
    """``threads`` threads doing ``per_thread`` lookups back to back; latencies (ms) and lookups/s."""
    samples: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def worker() -> None:
        mine = []
        start.wait()
        for _ in range(per_thread):
            mine.append(timed(lookup))
        with lock:
            samples.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in pool:
        thread.join()
    return samples, len(samples) / (time.perf_counter() - began)


def _portal_process(adapters_path: str, threads: int, rounds: int, workers: int, barrier, results) -> None:
    """One portal worker process (as behind a load balancer): its own adapters, pool and GIL."""
    loaded = load_adapter_dir(adapters_path)
    executor = make_executor(workers)
    adapters = list(loaded.registry)
    lookup = checked_lookup(adapters, executor)
    for _ in range(3):
        lookup()
    concurrent(lookup, threads, 2)  # warm keep-alive connections for the load
    barrier.wait()
    samples, _ = concurrent(lookup, threads, rounds)
    results.put((samples, len(failures)))
    executor.shutdown()
    loaded.registry.close()


def across_processes(adapters_path: Path, processes: int, concurrency: int, rounds: int,
                     workers: int) -> list[float]:
    """``concurrency`` lookups at once, spread over ``processes`` portal processes."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    threads = max(1, concurrency // processes)
    children = [context.Process(target=_portal_process,
                                args=(str(adapters_path), threads, rounds, workers // processes, barrier, results))
                for _ in range(processes)]
    for child in children:
        child.start()
    samples: list[float] = []
    for _ in children:
        mine, failed = results.get(timeout=600)
        samples.extend(mine)
        if failed:
            failures.append(f"{failed} lookups in a portal process had a system not ok")
    for child in children:
        child.join()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="lookups per measurement (per thread at 20)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--backoffice", choices=["process", "thread"], default="process")
    parser.add_argument("--max-concurrency", type=int, default=None,
                        help="bulkhead per adapter in the second concurrent run (default: --concurrency)")
    parser.add_argument("--workers", type=int, default=None, help="lookup pool size (default: 12 x concurrency)")
    parser.add_argument("--processes", type=int, default=2,
                        help="portal processes sharing the concurrent load in the multi-process run (0: skip)")
    args = parser.parse_args()

    for system_id, (username, password) in DEMO_CREDENTIALS.items():
        os.environ.setdefault(f"PORTAL_CRED_{system_id.upper()}_USERNAME", username)
        os.environ.setdefault(f"PORTAL_CRED_{system_id.upper()}_PASSWORD", password)
    office = ChildBackOffice() if args.backoffice == "process" else BackOffice(latency=latencies())
    workers = args.workers or 12 * args.concurrency

    raised = args.max_concurrency or args.concurrency

    with office, tempfile.TemporaryDirectory() as tmp:
        executor = make_executor(workers)
        loaded = load_adapter_dir(adapter_dir(tmp, None))
        sized_path = adapter_dir(tmp, raised)
        sized = load_adapter_dir(sized_path)
        assert not loaded.errors and not sized.errors, (loaded.errors, sized.errors)
        adapters, sized_adapters = list(loaded.registry), list(sized.registry)
        lookup = checked_lookup(adapters, executor)
        sized_lookup = checked_lookup(sized_adapters, executor)
        for adapter in adapters + sized_adapters:  # warm up: WSDLs, logins, keep-alive connections
            assert adapter.lookup(NUMBER).status is Status.OK, adapter.id
        for _ in range(3):
            lookup()
        concurrent(sized_lookup, args.concurrency, 2)  # open enough keep-alive connections for the load

        own: dict[str, list[float]] = {a.id: [] for a in adapters}
        sequential, one = [], []
        for _ in range(args.rounds):
            total = 0.0
            for adapter in adapters:
                took = timed(lambda a=adapter: a.lookup(NUMBER))
                own[adapter.id].append(took)
                total += took
            sequential.append(total)
            one.append(timed(lookup))
        configured, configured_rate = concurrent(lookup, args.concurrency, args.rounds)
        child = office.process.pid if isinstance(office, ChildBackOffice) else None
        cpu_before, child_before, wall_before = cpu_seconds(), cpu_seconds(child), time.perf_counter()
        many, throughput = concurrent(sized_lookup, args.concurrency, args.rounds)
        wall = time.perf_counter() - wall_before
        portal_cpu = (cpu_seconds() - cpu_before) / wall
        office_cpu = (cpu_seconds(child) - child_before) / wall if child else None

        spread = (across_processes(sized_path, args.processes, args.concurrency, args.rounds, workers)
                  if args.processes else [])

        slowest_id = max(own, key=lambda k: statistics.median(own[k]))
        slowest = own[slowest_id]
        base50, base95 = percentile(slowest, 50), percentile(slowest, 95)
        bulkhead = adapters[0].config.max_concurrency
        print(f"twelve simulated systems, configured latency 50-200 ms; back office in a {args.backoffice}; "
              f"lookup pool {workers} threads; deadline {DEADLINE_S} s; {args.rounds} rounds")
        print(f"{'':52}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'ratio p50':>11}{'ratio p95':>11}  goal")

        def row(name: str, values: list[float], judged: bool = True) -> None:
            p50, p95 = percentile(values, 50), percentile(values, 95)
            r50, r95 = p50 / base50, p95 / base95
            verdict = ("met" if max(r50, r95) <= GOAL else "NOT met") if judged else ""
            print(f"{name:52}{len(values):6d}{p50:9.1f}{p95:9.1f}{r50:11.3f}{r95:11.3f}  {verdict}")

        n = args.concurrency
        row(f"slowest system alone ({slowest_id})", slowest, judged=False)
        row("fan-out over 12, 1 lookup at a time", one)
        row(f"fan-out over 12, {n} concurrent, bulkhead {raised}", many)
        row(f"fan-out over 12, {n} concurrent, bulkhead {bulkhead} (files)", configured, judged=False)
        if spread:
            row(f"{n} concurrent over {args.processes} portal processes, bulkhead {raised}", spread)
        row("sequential baseline (12 one after another)", sequential, judged=False)
        cpu = f"portal process {portal_cpu:.0%} of a core"
        if office_cpu is not None:
            cpu += f", back office process {office_cpu:.0%}"
        print(f"{n} concurrent, bulkhead {raised}: {throughput:.1f} lookups/s; CPU: {cpu}; "
              f"{os.cpu_count()} CPUs on this machine")
        print(f"{n} concurrent, bulkhead {bulkhead}: {configured_rate:.1f} lookups/s "
              f"(at most {bulkhead} calls in flight per system: the others queue, first come first served)")
        if failures:
            print(f"{len(failures)} lookups had a system not ok, e.g.: {failures[0]}")
        executor.shutdown()
        loaded.registry.close()
        sized.registry.close()

if __name__ == "__main__":
    main()
