"""Password hashing with Argon2id.

The cost defaults are argon2-cffi's (RFC 9106's second recommendation: 64 MiB, 3 passes,
4 lanes). Settings may change them (``[passwords]``) for the hardware at hand; below OWASP's
floor (19 MiB and 2 passes) a warning is logged, since only a test suite should go there. A hash
made with other parameters still verifies, and is renewed at the next sign-in (``needs_rehash``).

Each app has its own :class:`Passwords` (``app.extensions["portal.passwords"]``), made from its
settings by :func:`portal.accounts.init_app`. Engine code gets only a database session, so the app
also hands the hasher to every session of its database (``Database.provide``); :func:`passwords_for`
finds it there. Two apps in one process (tests) each hash with their own costs. A session of no
app (a script's own ``Session``) gets :data:`DEFAULT`, argon2-cffi's costs.
"""

from __future__ import annotations

import logging
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
OWASP_MIN_MEMORY_KIB, OWASP_MIN_TIME_COST = 19 * 1024, 2

#: ``session.info`` key under which an app's sessions carry its :class:`Passwords`.
SESSION_KEY = "portal.passwords"


class Passwords:
    """One app's Argon2id hasher (thread-safe)."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        if memory_kib < OWASP_MIN_MEMORY_KIB or time_cost < OWASP_MIN_TIME_COST:
            log.warning("password hashing is set below OWASP's minimum (%d KiB, %d passes): fit for tests only",
                        OWASP_MIN_MEMORY_KIB, OWASP_MIN_TIME_COST)
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._lock = threading.Lock()
        self._dummy_hash: str | None = None  # verified when the username is unknown: both failures take as long

    @property
    def costs(self) -> tuple[int, int, int]:
        """(time cost, memory in KiB, parallelism)."""
        return self._hasher.time_cost, self._hasher.memory_cost, self._hasher.parallelism

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True for the right password; an unknown user (``None``) costs the same work and is False."""
        try:
            return self._hasher.verify(password_hash or self._dummy(), password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _dummy(self) -> str:
        with self._lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash("no such user")
            return self._dummy_hash


#: argon2-cffi's costs, for sessions that belong to no app.
DEFAULT = Passwords()


def passwords_for(session: Session) -> Passwords:
    """The hasher of the app whose database ``session`` belongs to (:data:`DEFAULT` for none)."""
    found = session.info.get(SESSION_KEY)
    return found if isinstance(found, Passwords) else DEFAULT
