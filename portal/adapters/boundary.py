"""The guarded boundary around adapters: what an adapter may reach and use, as admins decided.

An adapter document written by a system owner is untrusted input. Whatever it
may do is decided here, by admins, and enforced for every kind:

* **egress** (:mod:`portal.adapters.egress`): the hosts, networks and ports an
  adapter may connect to, checked when a document is registered and again at
  every connect, after name resolution;
* **credential bindings**: which named service-account credentials an adapter
  may use (one system, or one owner team);
* **local files**: only file-based adapters (deployed by admins into the
  configuration folder) may name files, and only inside that folder;
* **regular expressions** run with a time budget (``regex_budget_s``).

It also carries what the app lends its adapters, per app and never process-wide (two
apps in one process, as in the tests, each keep their own):

* **where service-account credentials come from** (``credentials``): the app's
  encrypted store, read by :func:`portal.adapters.secrets.credentials`; without one,
  the environment;
* **where WSDLs are cached on disk** (``wsdl_cache_dir``): the app's data folder, read by
  the soap kind (:mod:`portal.adapters.soapclient`).

The boundary travels without any new constructor argument: the loader builds a
kind inside :func:`building`, :class:`~portal.adapters.base.Adapter` keeps
:func:`current_boundary` as ``adapter.boundary``, and
:meth:`~portal.adapters.base.Adapter.lookup` makes it the *active scope* of the
thread running ``fetch`` (:func:`active_scope`), where the connection code of
every kind reads it. :data:`UNRESTRICTED` (no policy at all) is what a kind's
own tests and library callers get when they build adapters directly; the
portal always builds with the boundary of its settings.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from portal.adapters.egress import EgressPolicy

DEFAULT_REGEX_BUDGET_S = 0.25

Credentials = tuple[str, str]
#: ``provider(name) -> (username, password) | None``; thread-safe and quick (lookups run on the fan-out pool).
CredentialsProvider = Callable[[str], Credentials | None]


@dataclass(frozen=True)
class Boundary:
    """What adapters built under it may reach and use."""

    #: Where adapters may connect; ``None``: anywhere (unguarded, for kinds' own tests).
    egress: EgressPolicy | None = None
    #: Credential name (upper case) -> ``"system:<id>"`` or ``"team:<owner team>"``.
    #: A name that is not listed is bound to the system of the same id (``COMPLAINTS`` -> ``complaints``).
    credential_bindings: Mapping[str, str] = field(default_factory=dict)
    #: The folder file-based adapters' paths must stay inside; ``None``: no rule (unguarded).
    config_dir: Path | None = None
    #: Wall-clock budget of one owner-supplied regular expression over one answer.
    regex_budget_s: float = DEFAULT_REGEX_BUDGET_S
    #: True when this boundary is enforced (the portal's); False for :data:`UNRESTRICTED`.
    guarded: bool = False
    #: Where service-account credentials are looked up (the app's store); ``None``: the environment.
    credentials: CredentialsProvider | None = field(default=None, compare=False)
    #: The folder fetched WSDL/XSD documents are kept in between runs; ``None``: no disk cache.
    wsdl_cache_dir: Path | None = None

    def binding_of(self, credential: str) -> str:
        """``"system:<id>"`` or ``"team:<name>"``: who may use credential set ``credential``."""
        name = credential.upper()
        return self.credential_bindings.get(name) or f"system:{name.lower()}"

    def may_use_credentials(self, credential: str, system_id: str, owner: str | None) -> bool:
        if not self.guarded:
            return True
        kind, _, whom = self.binding_of(credential).partition(":")
        if kind == "system":
            return whom == system_id
        return kind == "team" and owner is not None and whom == owner


UNRESTRICTED = Boundary()


@dataclass(frozen=True)
class Scope:
    """The adapter whose ``fetch`` is running on this thread, and the boundary it runs under."""

    boundary: Boundary
    system_id: str
    owner: str | None


_building: contextvars.ContextVar[Boundary] = contextvars.ContextVar("portal_adapter_boundary", default=UNRESTRICTED)
_active: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("portal_adapter_scope", default=None)


@contextlib.contextmanager
def building(boundary: Boundary) -> Iterator[None]:
    """Adapters constructed inside this block keep ``boundary`` (see the module docstring)."""
    token = _building.set(boundary)
    try:
        yield
    finally:
        _building.reset(token)


def current_boundary() -> Boundary:
    """The boundary of the adapter being built (:data:`UNRESTRICTED` outside :func:`building`)."""
    return _building.get()


@contextlib.contextmanager
def running(scope: Scope) -> Iterator[None]:
    """Make ``scope`` the active one while an adapter's ``fetch`` runs on this thread."""
    token = _active.set(scope)
    try:
        yield
    finally:
        _active.reset(token)


def active_scope() -> Scope | None:
    """The scope of the adapter running on this thread, ``None`` outside any lookup."""
    return _active.get()


def describe(boundary: Boundary) -> dict[str, Any]:
    """The boundary as admins read it (the egress page and API)."""
    return {
        "guarded": boundary.guarded,
        "regex_budget_s": boundary.regex_budget_s,
        "credential_bindings": dict(boundary.credential_bindings),
        "config_dir": str(boundary.config_dir) if boundary.config_dir else None,
    }
