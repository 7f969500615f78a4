"""Managing the credentials that form-mode quick channels and adapter logins use, for people.

Admins (``adapters.manage``) manage every system's; system owners (``adapters.own``) those of the
systems their teams own. The secret is write-only: it is encrypted on the way in
(:class:`portal.sso.handoff.CredentialVault`) and never listed, returned or audited. Every change is
audited in the unit of work that makes it; the caller commits.

Engine code: takes a database session and an :class:`Operator`, knows nothing of Flask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.accounts.service import Operator
from portal.adapters.boundary import Boundary
from portal.adapters.secrets import describe_binding
from portal.audit.record import Actor, Event, record
from portal.catalog.live import LiveCatalog
from portal.errors import InvalidDocument, PermissionDenied, ResourceNotFound
from portal.rbac.policy import permits
from portal.sso.credential_bindings import SystemCredentials, describe_systems, entry_binding
from portal.sso.handoff import SERVICE_ACCOUNT, CredentialVault

MANAGE_ALL, MANAGE_OWN = "adapters.manage", "adapters.own"
OPERATOR = re.compile(rf"^(\{SERVICE_ACCOUNT}|[A-Za-z0-9][A-Za-z0-9._@-]{{0,63}})$")
KEYS = {"login_username", "password"}


@dataclass(frozen=True)
class CredentialEntry:
    """One stored credential as people see it (never the secret)."""

    system: str
    system_name: str
    operator: str  # a portal username, or ``*``: the system's service account
    login_username: str
    updated_at: float
    # A service account is adapters' credential set NAME (the system id in upper case), bound to
    # "system:<id>" or "team:<team>"; a per-operator entry serves the form-mode quick channel only (None).
    credential: str | None = None
    bound_to: str | None = None

    @property
    def binding(self) -> str:
        """For people: ``COMPLAINTS, bound to system complaints`` or ``form-mode sign-in only``."""
        if self.credential is None or self.bound_to is None:
            return "form-mode sign-in only"
        return f"{self.credential}, bound to {describe_binding(self.bound_to)}"

    @property
    def updated(self) -> str:
        """When it was last stored, for people: ``2026-11-24 09:40 UTC``."""
        return datetime.fromtimestamp(self.updated_at, UTC).strftime("%Y-%m-%d %H:%M UTC")

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "system_name": self.system_name, "operator": self.operator,
                "login_username": self.login_username,
                "updated_at": datetime.fromtimestamp(self.updated_at, UTC).isoformat(),
                "credential": self.credential, "bound_to": self.bound_to}


class CredentialAdmin:
    def __init__(self, vault: CredentialVault, catalog: LiveCatalog, boundary: Boundary | None = None) -> None:
        self.vault = vault
        self.catalog = catalog
        # The adapters' boundary holds the credential bindings; without one, every name is its system's.
        self.boundary = boundary if boundary is not None else Boundary(guarded=True)

    def manageable(self, session: Session, operator: Operator) -> dict[str, str]:
        """id -> name of the systems whose credentials ``operator`` may manage."""
        self._require_any(operator)
        return {a.id: a.config.name for a in self.catalog.adapters(session) if self._owns(operator, a.config.owner)}

    def listing(self, session: Session, operator: Operator) -> list[CredentialEntry]:
        systems = self.manageable(session, operator)
        return [CredentialEntry(row["system"], systems[row["system"]], row["operator"], row["login_username"],
                                row["updated_at"], *entry_binding(self.boundary, row["system"], row["operator"]))
                for row in self.vault.listing(session) if row["system"] in systems]

    def bindings(self, session: Session, operator: Operator) -> list[SystemCredentials]:
        """Per system ``operator`` manages: the credential sets its adapter may use, and where each comes from."""
        systems = self.manageable(session, operator)
        adapters = [a for a in self.catalog.adapters(session) if a.id in systems]
        return describe_systems(self.boundary, adapters, self.vault.listing(session))

    def store(self, session: Session, operator: Operator, actor: Actor, system_id: str, for_operator: str,
              document: Any) -> CredentialEntry:
        """Set the credentials ``for_operator`` (a portal username, or ``*``) uses at ``system_id``."""
        self.authorise(session, operator, system_id)
        if not OPERATOR.match(for_operator or ""):
            raise InvalidDocument("operator", "a portal username, or * for the system's service account")
        data = _validated(document)
        created = self.vault.store_in(session, system_id, data["login_username"], data["password"], for_operator)
        record(session, actor, Event(
            action="sso.credentials_set", target=system_id,
            details={"system": system_id, "operator": for_operator, "login_username": data["login_username"],
                     "change": "create" if created else "update"}))
        session.flush()
        return next(e for e in self.listing(session, operator) if (e.system, e.operator) == (system_id, for_operator))

    def remove(self, session: Session, operator: Operator, actor: Actor, system_id: str, for_operator: str) -> None:
        self.authorise(session, operator, system_id)
        if not self.vault.remove_in(session, system_id, for_operator):
            raise ResourceNotFound(f"no credentials for {system_id} / {for_operator}")
        record(session, actor, Event(action="sso.credentials_remove", target=system_id,
                                     details={"system": system_id, "operator": for_operator}))
        session.flush()

    # -- helpers ------------------------------------------------------------------------

    def authorise(self, session: Session, operator: Operator, system_id: str) -> str:
        """The system's name, after checking it exists (404) and ``operator`` may manage its credentials (403).

        The API calls it before reading the body, so a caller without the right learns nothing more.
        """
        self._require_any(operator)
        adapter = self.catalog.get(session, system_id)
        if adapter is None:
            raise ResourceNotFound(f"no system {system_id!r}")
        if not self._owns(operator, adapter.config.owner):
            teams = ", ".join(operator.teams) or "none"
            raise PermissionDenied(f"you may only manage credentials of systems your teams own ({teams})")
        return adapter.config.name

    @staticmethod
    def _require_any(operator: Operator) -> None:
        if not (permits(operator.permissions, MANAGE_ALL) or permits(operator.permissions, MANAGE_OWN)):
            raise PermissionDenied("managing system credentials needs adapters.manage or adapters.own")

    @staticmethod
    def _owns(operator: Operator, owner: str | None) -> bool:
        if permits(operator.permissions, MANAGE_ALL):
            return True
        return permits(operator.permissions, MANAGE_OWN) and owner is not None and (
            owner in operator.teams or owner == operator.username)


def _validated(document: Any) -> dict[str, str]:
    if not isinstance(document, dict):
        raise InvalidDocument(None, "the body must be an object with login_username and password")
    unknown = sorted(set(document) - KEYS)
    if unknown:
        raise InvalidDocument(unknown[0], "unknown key")
    login = document.get("login_username")
    if not isinstance(login, str) or not login.strip() or len(login) > 200:
        raise InvalidDocument("login_username", "required, at most 200 characters")
    password = document.get("password")
    if not isinstance(password, str) or not password or len(password) > 1024:
        raise InvalidDocument("password", "required, at most 1024 characters")
    return {"login_username": login.strip(), "password": password}
