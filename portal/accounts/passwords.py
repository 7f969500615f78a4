"""Password hashing with Argon2id.

The cost defaults are argon2-cffi's (RFC 9106's second recommendation: 64 MiB, 3 passes,
4 lanes). Settings may change them (``[passwords]``) for the hardware at hand; below OWASP's
floor (19 MiB and 2 passes) a warning is logged, since only a test suite should go there. A hash
made with other parameters still verifies, and is renewed at the next sign-in (``needs_rehash``).
"""

from __future__ import annotations

import logging
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
OWASP_MIN_MEMORY_KIB, OWASP_MIN_TIME_COST = 19 * 1024, 2

_lock = threading.Lock()
_hasher = PasswordHasher()
_dummy_hash: str | None = None  # verified when the username is unknown, so both failures take the same time


def configure(*, time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Use these Argon2id costs from now on (called once by the app factory)."""
    global _hasher, _dummy_hash
    current = _hasher
    if (current.time_cost, current.memory_cost, current.parallelism) == (time_cost, memory_kib, parallelism):
        return
    if memory_kib < OWASP_MIN_MEMORY_KIB or time_cost < OWASP_MIN_TIME_COST:
        log.warning("password hashing is set below OWASP's minimum (%d KiB, %d passes): fit for tests only",
                    OWASP_MIN_MEMORY_KIB, OWASP_MIN_TIME_COST)
    with _lock:
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        _dummy_hash = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("no such user")
    return _dummy_hash


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
