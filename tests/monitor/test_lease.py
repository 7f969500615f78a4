"""Only one monitor acts: two holders of one lease, in the database and in Redis."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from portal.monitor.lease import DatabaseLease, RedisLease, make_lease

REDIS_URL = "redis://127.0.0.1:6379/15"


class Clock:
    """A settable clock, so expiry is tested without waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def database(app):
    return app.extensions["portal.db"]


def test_database_lease_two_holders_only_one_wins(database, clock):
    first = DatabaseLease(database, 30, holder="a:1:x", clock=clock)
    second = DatabaseLease(database, 30, holder="b:2:y", clock=clock)
    assert first.acquire() is True
    assert second.acquire() is False
    assert first.acquire() is True  # renewal
    assert second.acquire() is False
    assert first.current_holder() == second.current_holder() == "a:1:x"


def test_database_lease_expiry_hands_over(database, clock):
    first = DatabaseLease(database, 30, holder="a:1:x", clock=clock)
    second = DatabaseLease(database, 30, holder="b:2:y", clock=clock)
    assert first.acquire()
    clock.now += timedelta(seconds=29)
    assert not second.acquire()
    clock.now += timedelta(seconds=2)  # first fell silent for longer than the lease
    assert second.acquire()
    assert not first.acquire()  # and cannot take it back while second renews
    assert second.current_holder() == "b:2:y"


def test_database_lease_release_hands_over_at_once(database, clock):
    first = DatabaseLease(database, 30, holder="a:1:x", clock=clock)
    second = DatabaseLease(database, 30, holder="b:2:y", clock=clock)
    assert first.acquire()
    first.release()
    assert first.current_holder() is None
    assert second.acquire()
    second.release()
    second.release()  # twice is harmless
    first.release()  # so is releasing a lease one does not hold
    assert first.acquire()


def test_database_lease_renewal_keeps_the_time_it_was_taken(database, clock):
    from portal.monitor.models import MonitorLease

    lease = DatabaseLease(database, 30, holder="a:1:x", clock=clock)
    assert lease.acquire()
    taken = clock.now
    clock.now += timedelta(seconds=10)
    assert lease.acquire()
    with database.session() as session:
        row = session.get(MonitorLease, "monitor")
        assert row.acquired_at.replace(tzinfo=UTC) == taken
        assert row.renewed_at.replace(tzinfo=UTC) == clock.now


def test_database_lease_many_contenders_at_once_one_wins(database):
    import threading

    leases = [DatabaseLease(database, 30, holder=f"h:{i}:z") for i in range(6)]
    results: list[bool] = []
    barrier = threading.Barrier(len(leases))

    def contend(lease):
        barrier.wait()
        results.append(lease.acquire())

    threads = [threading.Thread(target=contend, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * 5 + [True]


@pytest.fixture
def redis_prefix():
    from tests.conftest import require_redis

    client = require_redis(REDIS_URL)
    prefix = f"test:portal:lease:{secrets.token_hex(4)}:"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_redis_lease_two_holders_only_one_wins_and_release_hands_over(redis_prefix):
    first = RedisLease(REDIS_URL, 30, holder="a:1:x", key_prefix=redis_prefix)
    second = RedisLease(REDIS_URL, 30, holder="b:2:y", key_prefix=redis_prefix)
    try:
        assert first.acquire() and not second.acquire()
        assert first.acquire() and not second.acquire()
        assert second.current_holder() == "a:1:x"
        second.release()  # not ours: nothing happens
        assert first.current_holder() == "a:1:x"
        first.release()
        assert first.current_holder() is None
        assert second.acquire() and not first.acquire()
    finally:
        first.close()
        second.close()


def test_redis_lease_expiry_hands_over(redis_prefix):
    import time

    first = RedisLease(REDIS_URL, 0.2, holder="a:1:x", key_prefix=redis_prefix)
    second = RedisLease(REDIS_URL, 30, holder="b:2:y", key_prefix=redis_prefix)
    try:
        assert first.acquire()
        deadline = time.monotonic() + 10
        while not second.acquire():  # Redis expires the silent holder's key by itself
            assert time.monotonic() < deadline, "the expired lease was never handed over"
            time.sleep(0.05)
        assert not first.acquire()
    finally:
        first.close()
        second.close()


def test_redis_unreachable_means_not_held():
    lease = RedisLease("redis://127.0.0.1:1/0", 30)
    assert lease.acquire() is False
    lease.release()  # logged, not raised
    lease.close()


def test_make_lease_picks_redis_when_configured(app):
    settings = app.extensions["portal.settings"]
    database = app.extensions["portal.db"]
    assert isinstance(make_lease(settings, database), DatabaseLease)
    with_redis = settings.model_copy(update={"redis_url": REDIS_URL})
    lease = make_lease(with_redis, database)
    assert isinstance(lease, RedisLease) and lease.holder.count(":") == 2
    lease.close()
