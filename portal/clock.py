"""The portal's one clock.

Two readings of the same clock:

* :func:`now` — seconds since the epoch (UTC), a float: sign-in sessions, throttles, TOTP steps and
  hand-off tokens keep times this way (their tables have ``Float`` columns);
* :func:`utcnow` — an aware UTC :class:`~datetime.datetime`: what the ``UTCDateTime`` columns of
  :mod:`portal.db` hold (accounts, audit, catalogue, monitor).

:func:`utcnow` reads :func:`now`, so a test that moves the clock
(``monkeypatch.setattr(portal.clock, "now", ...)``) moves both. Use them through the module
(``from portal import clock`` ... ``clock.utcnow()``); never ``from portal.clock import now``, which
such a patch would not reach. :func:`as_utc` makes a datetime from elsewhere (a form, a file, a
test) aware UTC; values read from a ``UTCDateTime`` column already are. Monotonic time (deadlines,
back-off) is a different thing and stays ``time.monotonic``.

This module imports nothing of the portal: every layer may use it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import overload


def now() -> float:
    """Seconds since the epoch, UTC."""
    return time.time()


def utcnow() -> datetime:
    """Now, aware, in UTC: what the portal stores."""
    return datetime.fromtimestamp(now(), UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a naive datetime is taken to be UTC already (the portal never keeps local times)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
