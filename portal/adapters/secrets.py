"""Where adapters get the service-account credentials they log in with.

Secrets never go in an adapter document: the document names a credential set
(``credentials = "TICKETS"``) and the portal looks it up here when it needs it —
at each login, not at load time, so a rotated password is picked up without a
reload.

A credential set belongs to one system (or one owner team): admins bind names
in ``[adapters] credential_bindings``, and a name that is not listed belongs to
the system with the same id (``COMPLAINTS`` -> ``complaints``). Under the
portal's guarded boundary (:mod:`portal.adapters.boundary`) an adapter may use
only the sets bound to it: :func:`binding_problem` is asked when a document is
registered (the html kind's ``login.credentials``, the soap kind's
``wsse.credentials``) and :func:`credentials` asks again at every use, for the
adapter whose fetch is running on this thread — so an adapter built without the
check (a file deployed before a binding changed) still cannot post another
system's password.

The lookup is pluggable, per app. By default it reads ``PORTAL_CRED_<NAME>_USERNAME``
and ``PORTAL_CRED_<NAME>_PASSWORD`` from the environment; an app with a vault lends
its encrypted store to its adapters through their boundary
(:attr:`Boundary.credentials <portal.adapters.boundary.Boundary.credentials>`, set by
:func:`portal.adapters.egress_settings.boundary_from_settings`), so the store used is
the one of the adapter whose fetch is running on this thread — never a process-wide
setting two apps would share. A provider is a callable
``provider(name) -> (username, password) | None``; it must be thread-safe (lookups run
on the fan-out pool) and quick.
"""

from __future__ import annotations

import logging
import os

from portal.adapters.boundary import Boundary, Credentials, CredentialsProvider, active_scope
from portal.errors import BackendProtocolError

log = logging.getLogger(__name__)

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


def provider_of(boundary: Boundary | None) -> CredentialsProvider:
    """The credentials lookup of ``boundary`` (the environment when it names none)."""
    found = boundary.credentials if boundary is not None else None
    return found if found is not None else environment_credentials


def describe_binding(binding: str) -> str:
    """``"system:complaints"`` -> ``"system complaints"``; ``"team:billing-team"`` -> ``"team billing-team"``."""
    kind, _, whom = binding.partition(":")
    return f"{kind} {whom}"


def binding_problem(boundary: Boundary, name: str, system_id: str, owner: str | None) -> str | None:
    """Why adapter ``system_id`` (of team ``owner``) may not use credential set ``name``; ``None``: it may."""
    if boundary.may_use_credentials(name, system_id, owner):
        return None
    binding = boundary.binding_of(name)
    whom = system_id
    if binding.startswith("team:"):  # then the adapter's team is what was compared
        whom += f" (team {owner})" if owner else " (no owner team)"
    return f"credentials {name.upper()} are bound to {describe_binding(binding)}, not to {whom}"


def credentials(name: str) -> Credentials:
    """The username and password of credential set ``name``, or a short error people can act on.

    Read from the store of the adapter running on this thread (its boundary's
    ``credentials``; the environment outside a lookup or without a store). Refused
    when that adapter is guarded and ``name`` is not bound to it (see the module docstring).
    """
    scope = active_scope()
    if scope is not None:
        problem = binding_problem(scope.boundary, name, scope.system_id, scope.owner)
        if problem is not None:
            log.warning("adapter %s refused credentials %s: %s", scope.system_id, name.upper(), problem)
            raise BackendProtocolError(problem)
    provider = provider_of(scope.boundary if scope is not None else None)
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
