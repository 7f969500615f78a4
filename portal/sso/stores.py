"""Where sessions and sign-in failure counters live: the database (default) or Redis.

Both stores are shared by every portal process, so a session started on one
instance is valid on the others, an admin's "end sessions" ends them everywhere
and a lockout holds whichever instance the next attempt reaches.

::

    SessionStore.load(handle) -> SessionRecord | None
    SessionStore.save(record)                       insert or replace
    SessionStore.delete(handle)
    SessionStore.delete_for_user(user_id) -> int    how many ended
    ThrottleStore.get(key) -> Counter | None
    ThrottleStore.add_failure(key, now, window_s) -> Counter   (atomic increment)
    ThrottleStore.lock(key, until)
    ThrottleStore.clear(key)

``handle`` is the SHA-256 of the cookie value: whoever reads the store cannot
sign in with what they read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from portal.sso.models import LoginThrottle, SessionRow


@dataclass
class SessionRecord:
    handle: str
    user_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    last_seen: float = 0.0
    expires_at: float = 0.0


@dataclass
class Counter:
    failures: int
    window_start: float
    locked_until: float | None = None


class SessionStore(Protocol):
    def load(self, handle: str) -> SessionRecord | None: ...
    def save(self, record: SessionRecord) -> None: ...
    def delete(self, handle: str) -> None: ...
    def delete_for_user(self, user_id: int) -> int: ...


class ThrottleStore(Protocol):
    def get(self, key: str) -> Counter | None: ...
    def add_failure(self, key: str, now: float, window_s: float) -> Counter: ...
    def lock(self, key: str, until: float) -> None: ...
    def clear(self, key: str) -> None: ...


# --------------------------------------------------------------------------- database


class DatabaseSessionStore:
    """Sessions in the ``sso_sessions`` table; each call is its own short transaction."""

    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def load(self, handle: str) -> SessionRecord | None:
        with self._sessions() as db:
            row = db.get(SessionRow, handle)
            if row is None:
                return None
            return SessionRecord(row.handle, row.user_id, dict(row.data or {}), row.created_at, row.last_seen,
                                 row.expires_at)

    def save(self, record: SessionRecord) -> None:
        with self._sessions() as db:
            row = db.get(SessionRow, record.handle)
            if row is None:
                row = SessionRow(handle=record.handle)
                db.add(row)
            row.user_id, row.data = record.user_id, dict(record.data)
            row.created_at, row.last_seen, row.expires_at = record.created_at, record.last_seen, record.expires_at
            try:
                db.commit()
            except IntegrityError:  # the user was deleted meanwhile: the session goes with them
                db.rollback()

    def delete(self, handle: str) -> None:
        with self._sessions() as db:
            db.execute(delete(SessionRow).where(SessionRow.handle == handle))
            db.commit()

    def delete_for_user(self, user_id: int) -> int:
        with self._sessions() as db:
            result = db.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
            db.commit()
            return result.rowcount or 0

    def purge_expired(self, now: float) -> int:
        with self._sessions() as db:
            result = db.execute(delete(SessionRow).where(SessionRow.expires_at < now))
            db.commit()
            return result.rowcount or 0


class DatabaseThrottleStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def get(self, key: str) -> Counter | None:
        with self._sessions() as db:
            row = db.get(LoginThrottle, key)
            return None if row is None else Counter(row.failures, row.window_start, row.locked_until)

    def add_failure(self, key: str, now: float, window_s: float) -> Counter:
        for _ in range(3):  # two processes may insert the first row at once: retry the loser
            with self._sessions() as db:
                row = db.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
                if row is None:
                    row = LoginThrottle(key=key, failures=0, window_start=now)
                    db.add(row)
                if now - row.window_start > window_s:
                    row.failures, row.window_start = 0, now
                row.failures += 1
                counter = Counter(row.failures, row.window_start, row.locked_until)
                try:
                    db.commit()
                    return counter
                except IntegrityError:
                    db.rollback()
        return counter

    def lock(self, key: str, until: float) -> None:
        with self._sessions() as db:
            row = db.get(LoginThrottle, key)
            if row is None:
                row = LoginThrottle(key=key, failures=0, window_start=until)
                db.add(row)
            row.locked_until = until
            row.failures, row.window_start = 0, until  # counting starts afresh when the lock ends
            db.commit()

    def clear(self, key: str) -> None:
        with self._sessions() as db:
            db.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
            db.commit()


# --------------------------------------------------------------------------- redis

PREFIX = "portal:"


class RedisSessionStore:
    """Sessions as Redis keys that expire on their own; a set per user for "end all sessions"."""

    def __init__(self, client: Any) -> None:
        self._redis = client

    def load(self, handle: str) -> SessionRecord | None:
        raw = self._redis.get(f"{PREFIX}session:{handle}")
        if raw is None:
            return None
        doc = json.loads(raw)
        return SessionRecord(handle, doc.get("user_id"), doc.get("data", {}), doc["created_at"], doc["last_seen"],
                             doc["expires_at"])

    def save(self, record: SessionRecord) -> None:
        doc = {"user_id": record.user_id, "data": record.data, "created_at": record.created_at,
               "last_seen": record.last_seen, "expires_at": record.expires_at}
        # Redis drops the key a little after the session ends; the portal checks the times itself.
        ttl = max(1, int(record.expires_at - record.last_seen) + 60)
        pipe = self._redis.pipeline()
        pipe.set(f"{PREFIX}session:{record.handle}", json.dumps(doc), ex=ttl)
        if record.user_id is not None:
            pipe.sadd(f"{PREFIX}user_sessions:{record.user_id}", record.handle)
        pipe.execute()

    def delete(self, handle: str) -> None:
        self._redis.delete(f"{PREFIX}session:{handle}")

    def delete_for_user(self, user_id: int) -> int:
        key = f"{PREFIX}user_sessions:{user_id}"
        handles = [h.decode() if isinstance(h, bytes) else h for h in self._redis.smembers(key)]
        ended = 0
        if handles:
            ended = self._redis.delete(*[f"{PREFIX}session:{h}" for h in handles])
        self._redis.delete(key)
        return int(ended)


class RedisThrottleStore:
    def __init__(self, client: Any) -> None:
        self._redis = client

    def get(self, key: str) -> Counter | None:
        doc = self._redis.hgetall(f"{PREFIX}throttle:{key}")
        if not doc:
            return None
        doc = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in doc.items()}
        return Counter(int(doc.get("failures", 0)), doc.get("window_start", 0.0), doc.get("locked_until"))

    def add_failure(self, key: str, now: float, window_s: float) -> Counter:
        name = f"{PREFIX}throttle:{key}"
        # The window starts at the first failure: HSETNX keeps the earliest, the key expires with the window.
        pipe = self._redis.pipeline()
        pipe.hsetnx(name, "window_start", now)
        pipe.hincrby(name, "failures", 1)
        pipe.expire(name, int(window_s) + 1, nx=True)
        pipe.execute()
        counter = self.get(key)
        assert counter is not None
        return counter

    def lock(self, key: str, until: float) -> None:
        name = f"{PREFIX}throttle:{key}"
        pipe = self._redis.pipeline()
        pipe.hset(name, mapping={"locked_until": until, "failures": 0, "window_start": until})
        pipe.expireat(name, int(until) + 1)  # the lock outlives the counting window
        pipe.execute()

    def clear(self, key: str) -> None:
        self._redis.delete(f"{PREFIX}throttle:{key}")


def redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
