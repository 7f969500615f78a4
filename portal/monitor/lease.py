"""Only one monitor acts: a lease in the database or in Redis, renewed on every tick.

Several ``portal monitor`` processes (or ``portal demo`` instances) may run against one
database; the one holding the unexpired lease probes, records and alerts, the others wait
and take over when it stops renewing (``monitor_lease_s`` after its last renewal) or at once
when it releases the lease on a clean stop.

Both kinds offer the same three calls:

* :meth:`acquire` — take the lease if free or expired, renew it if ours; ``True`` while held.
  Never raises: a lease store that cannot be reached means "not held", so a monitor cut off
  from it stops acting rather than acting alongside another one.
* :meth:`release` — give it up if ours (best effort).
* :meth:`current_holder` — who holds it now (for ``portal monitor status``), or ``None``.

The database lease is one conditional ``UPDATE`` (``WHERE holder = me OR expires_at < now``):
atomic on SQLite and PostgreSQL alike. It compares times from the monitors' own clocks, so
hosts must keep their clocks in step (NTP) to well within ``monitor_lease_s``. The Redis lease
uses ``SET NX PX`` and Lua scripts that renew or delete only when the value is still ours, so
expiry is Redis's own clock.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from portal.clock import utcnow
from portal.monitor.models import MonitorLease

if TYPE_CHECKING:  # pragma: no cover
    from portal.config import Settings
    from portal.db import Database

log = logging.getLogger(__name__)

LEASE_NAME = "monitor"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def make_holder_id() -> str:
    """``host:pid:random``: unique per monitor instance, readable in ``portal monitor status``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease(Protocol):
    holder: str
    description: str

    def acquire(self) -> bool: ...

    def release(self) -> None: ...

    def current_holder(self) -> str | None: ...


class DatabaseLease:
    """The lease as one ``monitor_leases`` row, taken and renewed by a conditional UPDATE."""

    def __init__(self, db: Database, ttl_s: float, *, name: str = LEASE_NAME, holder: str | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl_s)
        self.name = name
        self.holder = holder or make_holder_id()
        self.clock = clock
        self.description = f"database lease {name!r}"

    def acquire(self) -> bool:
        try:
            return self._acquire()
        except SQLAlchemyError as exc:
            log.warning("lease %s could not be renewed: %s", self.name, exc)
            return False

    def _acquire(self) -> bool:
        now = self.clock()
        with self.db.session() as session:
            taken = session.execute(
                update(MonitorLease)
                .where(MonitorLease.name == self.name,
                       or_(MonitorLease.holder == self.holder, MonitorLease.expires_at < now))
                # acquired_at keeps the time this holder took over; renewals leave it alone.
                .values(holder=self.holder, renewed_at=now, expires_at=now + self.ttl,
                        acquired_at=case((MonitorLease.holder == self.holder, MonitorLease.acquired_at), else_=now))
                .execution_options(synchronize_session=False)
            ).rowcount
            if taken == 1:
                session.commit()
                return True
            if session.get(MonitorLease, self.name) is not None:
                session.rollback()
                return False
            session.add(MonitorLease(name=self.name, holder=self.holder, acquired_at=now, renewed_at=now,
                                     expires_at=now + self.ttl, cursor=0))
            try:
                session.commit()
            except IntegrityError:  # another monitor inserted it first: it holds the lease
                session.rollback()
                return False
            return True

    def release(self) -> None:
        try:
            with self.db.session() as session:
                session.execute(
                    update(MonitorLease)
                    .where(MonitorLease.name == self.name, MonitorLease.holder == self.holder)
                    .values(expires_at=EPOCH).execution_options(synchronize_session=False))
                session.commit()
        except SQLAlchemyError as exc:
            log.warning("lease %s could not be released (it expires by itself): %s", self.name, exc)

    def current_holder(self) -> str | None:
        with self.db.session() as session:
            row = session.execute(select(MonitorLease.holder, MonitorLease.expires_at)
                                  .where(MonitorLease.name == self.name)).first()
        if row is None or row.expires_at < self.clock():
            return None
        return row.holder


# KEYS[1] the lease, ARGV[1] our holder id, ARGV[2] time to live in ms.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease:
    """The lease as one Redis key holding the holder id, with Redis's own expiry."""

    def __init__(self, url: str, ttl_s: float, *, name: str = LEASE_NAME, holder: str | None = None,
                 key_prefix: str = "portal:lease:", client=None) -> None:
        import redis

        self.client = client or redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.key = f"{key_prefix}{name}"
        self.holder = holder or make_holder_id()
        self.description = f"Redis lease {self.key}"
        self._acquire_script = self.client.register_script(_ACQUIRE)
        self._release_script = self.client.register_script(_RELEASE)

    def acquire(self) -> bool:
        import redis

        try:
            return bool(self._acquire_script(keys=[self.key], args=[self.holder, self.ttl_ms]))
        except redis.RedisError as exc:
            log.warning("%s could not be renewed: %s", self.description, exc)
            return False

    def release(self) -> None:
        import redis

        try:
            self._release_script(keys=[self.key], args=[self.holder])
        except redis.RedisError as exc:
            log.warning("%s could not be released (it expires by itself): %s", self.description, exc)

    def current_holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    def close(self) -> None:
        self.client.close()


def make_lease(settings: Settings, db: Database, *, holder: str | None = None) -> DatabaseLease | RedisLease:
    """Redis when ``redis_url`` is set (every instance shares it), else the database."""
    if settings.redis_url:
        return RedisLease(settings.redis_url, settings.monitor_lease_s, holder=holder)
    return DatabaseLease(db, settings.monitor_lease_s, holder=holder)
