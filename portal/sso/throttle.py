"""Brute-force protection for password sign-in.

Failures are counted per submitted username (whether or not it exists, so the
answers never tell them apart) and per client address, in a window of
``login_failure_window_minutes``. ``login_max_failures`` failures lock the
username, ``login_max_failures_per_address`` lock the address, for
``login_lockout_minutes``. While locked, attempts are refused before the password
is checked. A success clears the username's counter (not the address's: one
good password must not reset a spraying address). The counters live in the
database or Redis (:mod:`portal.sso.stores`), shared by every portal process.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal import clock
from portal.sso.stores import ThrottleStore


@dataclass(frozen=True)
class Lock:
    key: str
    until: float

    @property
    def kind(self) -> str:
        return self.key.split(":", 1)[0]


class LoginThrottle:
    def __init__(self, store: ThrottleStore, max_failures: int, max_per_address: int, window_s: float,
                 lockout_s: float) -> None:
        self.store = store
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window_s = window_s
        self.lockout_s = lockout_s

    @staticmethod
    def keys(username: str, client_addr: str | None) -> list[str]:
        return [f"user:{username[:64]}", f"addr:{client_addr or '-'}"]

    def locked(self, username: str, client_addr: str | None) -> Lock | None:
        """The lock in force for this username or address, if any."""
        now = clock.now()
        for key in self.keys(username, client_addr):
            counter = self.store.get(key)
            if counter and counter.locked_until and counter.locked_until > now:
                return Lock(key, counter.locked_until)
        return None

    def failure(self, username: str, client_addr: str | None) -> list[Lock]:
        """Count one failure; returns the locks this failure started (to be audited)."""
        now = clock.now()
        started = []
        for key, limit in zip(self.keys(username, client_addr), (self.max_failures, self.max_per_address), strict=True):
            counter = self.store.add_failure(key, now, self.window_s)
            if counter.failures >= limit and not (counter.locked_until and counter.locked_until > now):
                until = now + self.lockout_s
                self.store.lock(key, until)
                started.append(Lock(key, until))
        return started

    def success(self, username: str) -> None:
        self.store.clear(f"user:{username[:64]}")


def init_app(app) -> None:
    from portal.sso.stores import DatabaseThrottleStore, RedisThrottleStore, redis_client

    settings = app.extensions["portal.settings"]
    if settings.redis_sessions:
        store: ThrottleStore = RedisThrottleStore(redis_client(settings.redis_url))
    else:
        store = DatabaseThrottleStore(app.extensions["portal.db"].sessions)
    app.extensions["portal.login_throttle"] = LoginThrottle(
        store, settings.login_max_failures, settings.login_max_failures_per_address,
        settings.login_failure_window_minutes * 60, settings.login_lockout_minutes * 60)
