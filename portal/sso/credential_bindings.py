"""Which service-account credentials each system's adapter may use, and where each one comes from.

Adapters name a credential set (``[login] credentials = "COMPLAINTS"``, ``wsse``);
admins bind each name to one system or one owner team (``[adapters]
credential_bindings``; a name not listed belongs to the system of the same id),
and the adapter plane refuses any other use (:mod:`portal.adapters.secrets`).
This module only *describes* that for people — the credentials page and API —
so an admin can see, per system, which names it may use, whether each is set
(the encrypted store's service account of the system with that id, else the
environment's ``PORTAL_CRED_<NAME>_*``), and which adapters name a credential
they may not use.

Engine code: no Flask; the caller passes the adapters, the stored entries and the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from portal.adapters.base import Adapter
from portal.adapters.boundary import Boundary
from portal.adapters.secrets import binding_problem, env_prefix

SERVICE_ACCOUNT = "*"
_ENV_NAME = re.compile(r"^PORTAL_CRED_([A-Za-z][A-Za-z0-9_]*)_USERNAME$")
# Where kinds name a credential set in their options: (option, attribute) -> the document key.
_CREDENTIAL_KEYS = (("login", "credentials"), ("wsse", "credentials"))

ENVIRONMENT, STORE, NOT_SET = "environment", "encrypted store", "not set"


@dataclass(frozen=True)
class CredentialUse:
    """One credential set a system may use."""

    name: str  # COMPLAINTS
    bound_to: str  # "system:complaints" or "team:billing-team"
    source: str  # ENVIRONMENT, STORE or NOT_SET: where the adapter's login would read it now
    where: str  # "PORTAL_CRED_COMPLAINTS_*", "service account of complaints", or what to set
    used_by: tuple[str, ...] = ()  # this system's document keys naming it: ("login.credentials",)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bound_to": self.bound_to, "source": self.source, "where": self.where,
                "used_by": list(self.used_by)}


@dataclass(frozen=True)
class SystemCredentials:
    """A system, the credential sets it may use, and any it names but may not use."""

    system: str
    system_name: str
    owner: str | None
    may_use: tuple[CredentialUse, ...] = ()
    refused: tuple[str, ...] = field(default=())  # "login.credentials: credentials X are bound to ..."

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "system_name": self.system_name, "owner": self.owner,
                "may_use": [use.to_dict() for use in self.may_use], "refused": list(self.refused)}


def named_credentials(adapter: Adapter) -> list[tuple[str, str]]:
    """``(document key, NAME)`` of every credential set ``adapter``'s document names."""
    found = []
    for option, attribute in _CREDENTIAL_KEYS:
        name = getattr(getattr(adapter.options, option, None), attribute, None)
        if isinstance(name, str):
            found.append((f"{option}.{attribute}", name.upper()))
    return found


def bound_to(boundary: Boundary, name: str, system_id: str, owner: str | None) -> bool:
    """Whether ``name`` is bound to this system (or its team), whatever the boundary enforces."""
    kind, _, whom = boundary.binding_of(name).partition(":")
    return whom == system_id if kind == "system" else (kind == "team" and owner is not None and whom == owner)


def describe_systems(
    boundary: Boundary,
    adapters: Iterable[Adapter],
    stored: Iterable[Mapping[str, Any]],
    environ: Mapping[str, str] | None = None,
) -> list[SystemCredentials]:
    """Per adapter (by id): the credential sets it may use and where each comes from."""
    environ = os.environ if environ is None else environ
    adapters = sorted(adapters, key=lambda a: a.id)
    in_store = {row["system"] for row in stored if row["operator"] == SERVICE_ACCOUNT}
    in_environment = {m.group(1).upper() for m in map(_ENV_NAME.match, environ) if m}
    known = (set(boundary.credential_bindings) | {s.upper() for s in in_store} | in_environment
             | {name for a in adapters for _, name in named_credentials(a)})
    systems = []
    for adapter in adapters:
        owner = adapter.config.owner
        names = {n for n in known if bound_to(boundary, n, adapter.id, owner)}
        if bound_to(boundary, adapter.id.upper(), adapter.id, owner):
            names.add(adapter.id.upper())  # its own name, even while unset: that is where to put it
        uses: dict[str, list[str]] = {name: [] for name in names}
        refused = []
        for key, name in named_credentials(adapter):
            if name in uses:
                uses[name].append(key)
            else:  # the words the adapter plane refuses it with (a guarded boundary always refuses it)
                refused.append(f"{key}: {binding_problem(replace(boundary, guarded=True), name, adapter.id, owner)}")
        may_use = tuple(_use(boundary, name, tuple(uses[name]), in_store, environ) for name in sorted(names))
        systems.append(SystemCredentials(adapter.id, adapter.config.name, owner, may_use, tuple(refused)))
    return systems


def _use(boundary: Boundary, name: str, used_by: tuple[str, ...], in_store: set[str],
         environ: Mapping[str, str]) -> CredentialUse:
    # The order the adapters' provider reads them in (portal.sso.handoff.adapter_credentials_provider).
    prefix = env_prefix(name)
    if name.lower() in in_store:
        source, where = STORE, f"service account of {name.lower()}"
    elif environ.get(f"{prefix}_USERNAME") and f"{prefix}_PASSWORD" in environ:
        source, where = ENVIRONMENT, f"{prefix}_*"
    else:
        source, where = NOT_SET, f"store the service account of {name.lower()}, or set {prefix}_USERNAME/_PASSWORD"
    return CredentialUse(name, boundary.binding_of(name), source, where, used_by)


def entry_binding(boundary: Boundary, system_id: str, operator: str) -> tuple[str | None, str | None]:
    """``(credential NAME, its binding)`` of a stored entry: service accounts serve adapters' logins.

    A per-operator entry is used by the form-mode quick channel only: ``(None, None)``.
    """
    if operator != SERVICE_ACCOUNT:
        return None, None
    name = system_id.upper()
    return name, boundary.binding_of(name)
