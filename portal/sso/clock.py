"""The one clock of sign-in (seconds since the epoch, UTC); tests move it with ``monkeypatch``."""

from __future__ import annotations

import time


def now() -> float:
    return time.time()
