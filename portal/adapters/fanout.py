"""Ask many systems about one customer at once, under one deadline (DESIGN §3).

A slow or broken system costs its own panel, never the page: every adapter's
lookup runs on a shared, bounded thread pool (one per app, see
:func:`make_executor`); :func:`fan_out` waits once for all of them and turns
whatever has not finished by the deadline into a ``timeout`` result. It never
raises.

The pool is bounded so that a burst of lookups cannot create unbounded threads;
a lookup that only starts after the deadline (because the pool was busy) is
skipped rather than run for nobody.

Later: a per-adapter bulkhead (at most N concurrent calls to one system, so a
hanging system cannot occupy the whole pool) and a circuit breaker belong in
front of ``adapter.lookup`` here.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from typing import Sequence

from portal.adapters.base import Adapter, Status, SystemResult, format_seconds

log = logging.getLogger(__name__)

THREAD_NAME_PREFIX = "portal-fanout"


def make_executor(max_workers: int = 32) -> cf.ThreadPoolExecutor:
    """The app's shared lookup pool; size it for (concurrent lookups x systems) you accept."""
    return cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=THREAD_NAME_PREFIX)


def fan_out(
    adapters: Sequence[Adapter],
    key: str,
    *,
    deadline_s: float,
    executor: cf.Executor,
    correlation_id: str | None = None,
) -> list[SystemResult]:
    """One :class:`SystemResult` per adapter, in the order of ``adapters``."""
    deadline = time.monotonic() + deadline_s
    futures: list[cf.Future[SystemResult] | SystemResult] = []
    for adapter in adapters:
        try:
            futures.append(executor.submit(_run, adapter, key, deadline, deadline_s, correlation_id))
        except Exception as exc:  # e.g. the pool is shut down while the app stops
            log.error("could not start lookup on %s: %s", adapter.id, exc)
            futures.append(SystemResult(adapter.id, Status.ERROR, error="lookup could not be started"))
    pending = [f for f in futures if isinstance(f, cf.Future)]
    if pending:
        cf.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
    return [_collect(adapter, future, deadline_s) for adapter, future in zip(adapters, futures)]


def _run(adapter: Adapter, key: str, deadline: float, deadline_s: float, correlation_id: str | None) -> SystemResult:
    left = deadline - time.monotonic()
    if left <= 0:  # queued behind other lookups until nobody is waiting any more
        return timeout_result(adapter, deadline_s)
    return adapter.lookup(key, timeout=left, correlation_id=correlation_id)


def _collect(adapter: Adapter, future: cf.Future[SystemResult] | SystemResult, deadline_s: float) -> SystemResult:
    if isinstance(future, SystemResult):
        return future
    if not future.done():
        future.cancel()  # if it has not started yet, it never will
        return timeout_result(adapter, deadline_s)
    try:
        return future.result()
    except cf.CancelledError:
        return timeout_result(adapter, deadline_s)
    except Exception:  # lookup() never raises; if a kind breaks that promise, log it
        log.exception("lookup on %s raised", adapter.id)
        return SystemResult(adapter.id, Status.ERROR, error="unexpected adapter failure (logged)")


def timeout_result(adapter: Adapter, deadline_s: float) -> SystemResult:
    return SystemResult(
        system_id=adapter.id,
        status=Status.TIMEOUT,
        elapsed_ms=int(round(deadline_s * 1000)),
        error=f"no answer within {format_seconds(deadline_s)} s",
    )
