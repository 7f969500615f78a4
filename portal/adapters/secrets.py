"""Where adapters get the service-account credentials they log in with.

Secrets never go in an adapter document: the document names a credential set
(``credentials = "TICKETS"``) and the portal looks it up here when it needs it —
at each login, not at load time, so a rotated password is picked up without a
reload.

The lookup is pluggable. By default it reads ``PORTAL_CRED_<NAME>_USERNAME`` and
``PORTAL_CRED_<NAME>_PASSWORD`` from the environment; the app installs its
encrypted store with :func:`set_credentials_provider`. A provider is a callable
``provider(name) -> (username, password) | None``; it must be thread-safe
(lookups run on the fan-out pool) and quick.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from portal.errors import BackendProtocolError

log = logging.getLogger(__name__)

Credentials = tuple[str, str]
CredentialsProvider = Callable[[str], Credentials | None]

ENV_PREFIX = "PORTAL_CRED_"


def environment_credentials(name: str) -> Credentials | None:
    """The default provider: ``PORTAL_CRED_<NAME>_USERNAME`` / ``_PASSWORD``."""
    prefix = env_prefix(name)
    username = os.environ.get(f"{prefix}_USERNAME")
    password = os.environ.get(f"{prefix}_PASSWORD")
    if not username or password is None:
        return None
    return username, password


def env_prefix(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


_lock = threading.Lock()
_provider: CredentialsProvider = environment_credentials


def set_credentials_provider(provider: CredentialsProvider | None) -> CredentialsProvider:
    """Install the process-wide credentials lookup; ``None`` restores the environment one.

    Returns the provider that was installed before, so tests (and an app being
    torn down) can put it back.
    """
    global _provider
    with _lock:
        previous = _provider
        _provider = provider if provider is not None else environment_credentials
    return previous


def get_credentials_provider() -> CredentialsProvider:
    return _provider


def credentials(name: str) -> Credentials:
    """The username and password of credential set ``name``, or a short error people can act on."""
    provider = _provider
    try:
        found = provider(name)
    except Exception as exc:  # a broken store costs one panel, and the log says why
        log.exception("credentials provider failed for %r", name)
        raise BackendProtocolError(f"credentials {name!r} could not be read") from exc
    if found is None:
        if provider is environment_credentials:
            raise BackendProtocolError(f"credentials {env_prefix(name)}_* not set")
        raise BackendProtocolError(f"credentials {name!r} not found in the credential store")
    username, password = found
    if not username or password is None:
        raise BackendProtocolError(f"credentials {name!r} are incomplete")
    return str(username), str(password)
