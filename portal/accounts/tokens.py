"""Personal API tokens: random, shown once, stored as SHA-256.

A token has 256 bits of entropy, so a fast hash is enough to make a stolen
database useless while keeping the per-request check cheap.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "pt_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    """Enough of the token for people to tell tokens apart in lists."""
    return token[: len(TOKEN_PREFIX) + 6]
