"""What the adapter boundary's guards cost: CPU per 12-system lookup with and without them, from one run.

The twelve simulated systems run in a child process (``portal backoffice``), so their CPU is not
counted. In this process, the twelve demo adapters are built twice from ``config/adapters``:

* **guarded**: within the boundary the portal builds from its settings (the demo's egress rule:
  every new connection resolved and checked; owner regular expressions run by the ``regex`` library
  with a time budget and the GIL released);
* **unguarded**: no egress policy, and the same patterns run by Python's ``re`` with no budget.

Both sets answer the same customers one after another, alternating in rounds so that drift of the
machine affects both alike; each round asks all twelve systems one by one (no fan-out pool, so the
CPU measured is the adapters' own). CPU is this process's user+system time. Connections are pooled
as in the portal, so the egress check runs on each new connection (half the kinds reconnect per
lookup: socket systems without keep-alive, and systems that close).

Run: ``python bench/guard_cost.py [--rounds 200]``. Prints the CPU per 12-system lookup of each
set and their ratio; the guards should cost under 2 %.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent


def start_backoffice() -> subprocess.Popen[bytes]:
    from portal.demo.catalogue import SYSTEMS

    process = subprocess.Popen([sys.executable, "-m", "portal.cli", "backoffice"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ports = [spec.port for spec in SYSTEMS]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(_listening(port) for port in ports):
            return process
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the simulated back office did not start (are its ports taken?)")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class PlainPattern:
    """The unguarded twin of :class:`portal.adapters.patterns.BoundedPattern`: Python's ``re``, no budget."""

    def __init__(self, bounded) -> None:
        self._compiled = re.compile(bounded._compiled.pattern)
        self.key = bounded.key

    @property
    def groupindex(self):
        return self._compiled.groupindex

    def search(self, text, context):
        return self._compiled.search(text)

    def finditer(self, text, context):
        return list(self._compiled.finditer(text))


def unguard_patterns(adapter) -> int:
    """Swap every bounded pattern an adapter holds (however deep) for its plain ``re`` twin."""
    from portal.adapters.patterns import BoundedPattern

    seen: set[int] = set()
    swapped = 0

    def walk(obj, depth=0):
        nonlocal swapped
        if id(obj) in seen or depth > 4:
            return
        seen.add(id(obj))
        attributes = vars(obj) if hasattr(obj, "__dict__") else {}
        for name, value in list(attributes.items()):
            if isinstance(value, BoundedPattern):
                setattr(obj, name, PlainPattern(value))
                swapped += 1
            elif isinstance(value, dict):
                for key, item in list(value.items()):
                    if isinstance(item, BoundedPattern):
                        value[key] = PlainPattern(item)
                        swapped += 1
                    elif isinstance(item, tuple) and item and isinstance(item[0], BoundedPattern):
                        value[key] = (PlainPattern(item[0]), *item[1:])
                        swapped += 1
            elif hasattr(value, "__dict__") and type(value).__module__.startswith("portal.adapters"):
                walk(value, depth + 1)

    walk(adapter)
    return swapped


def build_sets():
    from portal.adapters.boundary import UNRESTRICTED
    from portal.adapters.egress_settings import boundary_from_settings
    from portal.adapters.registry import load_adapter_dir
    from portal.config import load_settings
    from portal.demo.backoffice import DEMO_CREDENTIALS
    from portal.demo.catalogue import egress_allow

    for name, (username, password) in DEMO_CREDENTIALS.items():  # the complaints system's service account
        os.environ.setdefault(f"PORTAL_CRED_{name.upper()}_USERNAME", username)
        os.environ.setdefault(f"PORTAL_CRED_{name.upper()}_PASSWORD", password)
    settings = load_settings({"egress_allow": egress_allow(), "adapters_dir": str(REPO / "config/adapters"),
                              "data_dir": "/tmp/portal-guard-bench", "secret_key": "bench"}, environ={})
    guarded = load_adapter_dir(settings.adapters_dir, boundary_from_settings(settings))
    plain = load_adapter_dir(settings.adapters_dir, UNRESTRICTED)
    swapped = sum(unguard_patterns(adapter) for adapter in plain.registry)
    assert guarded.ok and plain.ok, [e.detail for e in [*guarded.errors, *plain.errors]]
    assert all(a.boundary.egress is not None for a in guarded.registry)
    print(f"guarded set: egress policy on {len(guarded.registry)} adapters; "
          f"unguarded set: {swapped} owner patterns run by re instead of regex")
    return list(guarded.registry), list(plain.registry)


def round_cpu(adapters, number: str) -> tuple[float, list[str]]:
    started = time.process_time()
    statuses = [adapter.lookup(number, timeout=3.0).status.value for adapter in adapters]
    return time.process_time() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    backoffice = start_backoffice()
    try:
        guarded, plain = build_sets()
        numbers = [f"138{i:08d}" for i in range(args.rounds)]
        for number in numbers[:10]:  # warm: WSDLs parsed, pools filled, caches loaded
            round_cpu(guarded, number)
            round_cpu(plain, number)
        cpu = {"guarded": 0.0, "plain": 0.0}
        failed = 0
        for index, number in enumerate(numbers):
            order = [("guarded", guarded), ("plain", plain)] if index % 2 == 0 else [("plain", plain),
                                                                                      ("guarded", guarded)]
            answers = {}
            for name, adapters in order:
                spent, answers[name] = round_cpu(adapters, number)
                cpu[name] += spent
            failed += answers["guarded"] != answers["plain"]
        per_guarded = cpu["guarded"] / len(numbers) * 1000
        per_plain = cpu["plain"] / len(numbers) * 1000
        print(f"rounds: {len(numbers)} customers x 12 systems, each set; rounds whose statuses differed: {failed}")
        print(f"CPU per 12-system lookup, unguarded (no egress policy, re): {per_plain:.2f} ms")
        print(f"CPU per 12-system lookup, guarded (egress policy, regex with budget): {per_guarded:.2f} ms")
        print(f"ratio guarded / unguarded: {per_guarded / per_plain:.3f} "
              f"({(per_guarded / per_plain - 1) * 100:+.1f} %; the bar is under +2 %)")
        for adapter in [*guarded, *plain]:
            adapter.close()
    finally:
        backoffice.send_signal(signal.SIGTERM)
        try:
            backoffice.wait(10)
        except subprocess.TimeoutExpired:
            backoffice.kill()


if __name__ == "__main__":
    main()
