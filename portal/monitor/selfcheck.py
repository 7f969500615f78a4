"""The portal's own health: its database, its Redis, its lookup workers and the monitor process.

Used by the monitor page and API (everything) and by ``/readyz`` (database and Redis only: a load
balancer should stop sending work to an instance that cannot reach them, not to one whose monitor
process is elsewhere). Each check is bounded: the database by its pool and driver, Redis by the
client's 2-second socket timeouts.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal import clock
from portal.monitor.lease import LEASE_NAME
from portal.monitor.queries import LeaseInfo, monitor_lease

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

REDIS_CLIENT = "portal.monitor.redis"
REDIS_LEASE_KEY = f"portal:lease:{LEASE_NAME}"  # where portal.monitor.lease.RedisLease keeps it


@dataclass(frozen=True)
class Probe:
    """One dependency: reachable or not, how long the round trip took, and why not (for people)."""

    ok: bool
    ms: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": self.ms, "error": self.error}


@dataclass(frozen=True)
class Workers:
    """The lookup fan-out pool: threads started, how many are busy, tasks waiting, the ceiling."""

    max_threads: int | None
    started: int | None
    busy: int | None
    queued: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"max_threads": self.max_threads, "started": self.started, "busy": self.busy, "queued": self.queued}


@dataclass(frozen=True)
class PortalHealth:
    database: Probe
    redis: Probe | None  # None: no Redis configured
    workers: Workers
    monitor: LeaseInfo
    checked_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database.to_dict(), "redis": self.redis.to_dict() if self.redis else None,
                "workers": self.workers.to_dict(), "monitor": self.monitor.to_dict(self.checked_at)}


def check_database(engine: Engine) -> Probe:
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return Probe(False, error=f"unreachable: {type(exc).__name__}")
    return Probe(True, round((time.perf_counter() - started) * 1000, 1))


def check_redis(client: Any) -> Probe:
    started = time.perf_counter()
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable" to the caller
        return Probe(False, error=f"unreachable: {type(exc).__name__}")
    return Probe(True, round((time.perf_counter() - started) * 1000, 1))


def redis_of(app: Flask) -> Any:
    """The app's Redis client for health checks (made once), or ``None`` when no Redis is configured."""
    url = app.extensions["portal.settings"].redis_url
    if not url:
        return None
    client = app.extensions.get(REDIS_CLIENT)
    if client is None:
        from portal.sso.stores import redis_client

        client = app.extensions[REDIS_CLIENT] = redis_client(url)
    return client


def workers_of(executor: Executor | None) -> Workers:
    """Read the thread pool's counters; they are private to ThreadPoolExecutor, so each is optional."""
    threads = getattr(executor, "_threads", None)
    idle = getattr(getattr(executor, "_idle_semaphore", None), "_value", None)
    queue = getattr(executor, "_work_queue", None)
    started = len(threads) if threads is not None else None
    busy = max(0, started - idle) if started is not None and isinstance(idle, int) else None
    return Workers(max_threads=getattr(executor, "_max_workers", None), started=started, busy=busy,
                   queued=queue.qsize() if queue is not None else None)


def dependencies(app: Flask) -> tuple[Probe, Probe | None]:
    """Database and (when configured) Redis: what ``/readyz`` needs."""
    client = redis_of(app)
    return check_database(app.extensions["portal.db"].engine), check_redis(client) if client is not None else None


def monitor_process(app: Flask, session: Session, at: datetime | None = None) -> LeaseInfo:
    """Who holds the monitor's lease: in Redis when one is configured (as the monitor does), else the database."""
    at = at or clock.utcnow()
    client = redis_of(app)
    try:
        if client is None:
            return monitor_lease(session, at)
        return _redis_lease(client, app.extensions["portal.settings"].monitor_lease_s, at)
    except SQLAlchemyError as exc:
        session.rollback()
        return LeaseInfo(error=f"the database could not be read ({type(exc).__name__})")
    except Exception as exc:  # noqa: BLE001 - Redis down: the Redis panel says so too
        return LeaseInfo(error=f"Redis could not be read ({type(exc).__name__})")


def _redis_lease(client: Any, lease_s: float, at: datetime) -> LeaseInfo:
    holder = client.get(REDIS_LEASE_KEY)
    if holder is None:
        return LeaseInfo()
    left_ms = max(0, int(client.pttl(REDIS_LEASE_KEY)))
    # Every renewal sets the time to live back to monitor_lease_s, so the renewal was that long before expiry.
    expires = at + timedelta(milliseconds=left_ms)
    return LeaseInfo(holder.decode() if isinstance(holder, bytes) else str(holder),
                     expires - timedelta(seconds=lease_s), expires, True)


def portal_health(app: Flask, session: Session) -> PortalHealth:
    database, redis = dependencies(app)
    lookup = app.extensions.get("portal.lookup")
    at = clock.utcnow()
    return PortalHealth(database, redis, workers_of(getattr(lookup, "executor", None)),
                        monitor_process(app, session, at), at)
