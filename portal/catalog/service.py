"""Registering and changing adapters: ownership, validation, versions and audit.

Admins (``adapters.manage``) manage every registered adapter; system owners
(``adapters.own``) only those whose ``owner`` is one of their teams. Adapters
defined in files belong to the deployment and are read-only here.

Saving a document makes a new *draft* version: nobody but the owners' test
console and shadow runs uses it until it is approved and promoted
(:mod:`portal.catalog.lifecycle`). Every document is built once inside the
portal's guarded boundary before it is stored, so a document that is saved
passes the egress policy, the credential bindings and every compile-time check.

Engine code: takes a session and an operator, flushes, and leaves the commit to the caller's
unit of work (the request, the CLI command).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.service import Operator
from portal.adapters.base import Adapter
from portal.adapters.chain import find_problems
from portal.audit.record import Actor, Event, record
from portal.catalog.live import LiveCatalog
from portal.catalog.models import AdapterVersion, StoredAdapter, VersionState
from portal.catalog.ownership import MANAGE_ALL, owns, require_owner, require_reader
from portal.errors import ConfigError, Conflict, InvalidDocument, ResourceNotFound
from portal.rbac.policy import permits


@dataclass(frozen=True)
class VersionInfo:
    """One version of a registered adapter as owners and approvers see it."""

    version: int
    change: str
    state: str
    changed_by: str
    changed_at: datetime
    approved_by: str | None
    document: dict[str, Any] | None

    def to_dict(self, with_document: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"version": self.version, "change": self.change, "state": self.state,
                                "changed_by": self.changed_by, "changed_at": self.changed_at.isoformat(),
                                "approved_by": self.approved_by}
        if with_document:
            body["document"] = self.document
        return body


@dataclass(frozen=True)
class AdapterInfo:
    """An adapter as admins and owners see it."""

    id: str
    document: dict[str, Any]
    source: str  # "file" or "database"
    version: int | None  # the newest version
    updated_by: str | None
    updated_at: datetime | None
    editable: bool
    error: str | None = None
    live_version: int | None = None
    shadow_version: int | None = None
    versions: list[VersionInfo] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``live`` (a file, or a live version), else the newest version's state."""
        if self.source == "file" or self.live_version is not None:
            return VersionState.LIVE.value
        return self.versions[0].state if self.versions else VersionState.DRAFT.value

    def to_dict(self, with_document: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.document.get("name"),
            "kind": self.document.get("kind"),
            "owner": self.document.get("owner"),
            "enabled": self.document.get("enabled", True),
            "source": self.source,
            "state": self.state,
            "version": self.version,
            "live_version": self.live_version,
            "shadow_version": self.shadow_version,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "editable": self.editable,
            "error": self.error,
        }
        if with_document:
            body["document"] = self.document
            body["versions"] = [v.to_dict(with_document=False) for v in self.versions]
        return body


class CatalogService:
    def __init__(self, live: LiveCatalog) -> None:
        self.live = live

    # --- reading -----------------------------------------------------------------------

    def list(self, session: Session, operator: Operator) -> list[AdapterInfo]:
        require_reader(operator)
        self.live.adapters(session)  # load errors and live versions as of now, once for the whole list
        stored = {row.id: row for row in session.scalars(select(StoredAdapter))}
        infos = [self._file_info(adapter_id) for adapter_id in self.live.file_adapters]
        infos += [self._stored_info(session, row, operator, with_versions=False)
                  for key, row in stored.items() if key not in self.live.file_adapters]
        return sorted(infos, key=lambda info: info.id)

    def get(self, session: Session, operator: Operator, adapter_id: str) -> AdapterInfo:
        require_reader(operator)
        if adapter_id in self.live.file_adapters:
            return self._file_info(adapter_id)
        self.live.adapters(session)  # load errors as of now
        return self._stored_info(session, stored_adapter(session, adapter_id), operator)

    def history(self, session: Session, operator: Operator, adapter_id: str) -> list[VersionInfo]:
        require_reader(operator)
        versions = versions_of(session, adapter_id)
        if not versions and adapter_id not in self.live.file_adapters:
            raise ResourceNotFound(f"no adapter {adapter_id!r}")
        return versions

    # --- changing ----------------------------------------------------------------------

    def create(self, session: Session, operator: Operator, actor: Actor, document: dict[str, Any]) -> AdapterInfo:
        require_reader(operator)
        document = self._with_default_owner(document, operator)
        adapter_id = self._validate(session, document)  # a document without an owner is a 422 before a 403
        require_owner(operator, document.get("owner"))
        if adapter_id in self.live.file_adapters:
            raise Conflict(f"adapter {adapter_id!r} is defined in {self.live.file_sources[adapter_id]}; change that file")
        if session.get(StoredAdapter, adapter_id) is not None:
            raise Conflict(f"adapter {adapter_id!r} already exists")
        version = self._next_version(session, adapter_id)
        row = StoredAdapter(id=adapter_id, owner=document.get("owner"), document=document, version=version,
                            updated_by=operator.username)
        session.add(row)
        self._record_change(session, actor, row, "create", before=None)
        session.flush()
        return self._stored_info(session, row, operator)

    def update(self, session: Session, operator: Operator, actor: Actor, adapter_id: str,
               document: dict[str, Any]) -> AdapterInfo:
        """Save ``document`` as a new draft version; the live version stays live until one is promoted."""
        row = self._editable(session, operator, adapter_id)
        document = self._with_default_owner(document, operator)
        if document.get("id", adapter_id) != adapter_id:
            raise InvalidDocument("id", f"must stay {adapter_id!r}; register a new adapter to change the id")
        document = {"id": adapter_id, **document}
        require_owner(operator, document.get("owner"))
        self._validate(session, document)
        before = row.document
        row.document, row.owner = document, document.get("owner")
        row.version = self._next_version(session, adapter_id)
        row.updated_by, row.updated_at = operator.username, clock.utcnow()
        self._record_change(session, actor, row, "update", before=before)
        session.flush()
        return self._stored_info(session, row, operator)

    def delete(self, session: Session, operator: Operator, actor: Actor, adapter_id: str) -> None:
        row = self._editable(session, operator, adapter_id)
        version = self._next_version(session, adapter_id)
        session.add(AdapterVersion(adapter_id=adapter_id, version=version, change="delete", document=None,
                                   changed_by=operator.username, state=VersionState.RETIRED.value))
        record(session, actor, Event(action="adapter.delete", target=adapter_id,
                                     details={"version": version, "before": row.document,
                                              "live_version": row.live_version}))
        session.delete(row)
        session.flush()

    # --- helpers -----------------------------------------------------------------------

    def _editable(self, session: Session, operator: Operator, adapter_id: str) -> StoredAdapter:
        require_reader(operator)
        if adapter_id in self.live.file_adapters:
            raise Conflict(f"adapter {adapter_id!r} is defined in {self.live.file_sources[adapter_id]}; change that file")
        row = stored_adapter(session, adapter_id)
        require_owner(operator, row.owner)
        return row

    @staticmethod
    def _with_default_owner(document: Any, operator: Operator) -> dict[str, Any]:
        if not isinstance(document, dict):
            raise InvalidDocument(None, "an adapter document must be a JSON object")
        if "owner" not in document and not permits(operator.permissions, MANAGE_ALL) and operator.teams:
            return {**document, "owner": operator.teams[0]}
        return dict(document)

    def _validate(self, session: Session, document: dict[str, Any]) -> str:
        """Build the adapter once, inside the guarded boundary and without a lookup, to check every key,
        every destination, every credential and its key chain; returns its id."""
        try:
            adapter: Adapter = self.live.build_version(str(document.get("id", "?")), 0, document)
        except ConfigError as exc:
            raise InvalidDocument.from_config_error(exc) from exc
        try:
            others = [a for a in self.live.adapters(session) if a.id != adapter.id]
            problems = [p for p in find_problems([*others, adapter]) if adapter.id in (p.adapter_id, *p.involved)]
            if problems:
                raise InvalidDocument("key", problems[0].reason)
        finally:
            adapter.close()
        return adapter.id

    @staticmethod
    def _next_version(session: Session, adapter_id: str) -> int:
        newest = session.scalar(select(func.max(AdapterVersion.version)).where(AdapterVersion.adapter_id == adapter_id))
        return (newest or 0) + 1

    def _record_change(self, session: Session, actor: Actor, row: StoredAdapter, change: str,
                       before: dict[str, Any] | None) -> None:
        session.add(AdapterVersion(adapter_id=row.id, version=row.version, change=change, document=row.document,
                                   changed_by=row.updated_by, state=VersionState.DRAFT.value))
        action = "adapter.register" if change == "create" else "adapter.update"
        record(session, actor, Event(action=action, target=row.id,
                                     details={"version": row.version, "state": VersionState.DRAFT.value,
                                              "live_version": row.live_version, "before": before,
                                              "after": row.document}))

    def _file_info(self, adapter_id: str) -> AdapterInfo:
        adapter = self.live.file_adapters[adapter_id]
        document = adapter.config.model_dump(exclude_none=True) | _options_document(adapter)
        return AdapterInfo(id=adapter_id, document=document, source="file", version=None, updated_by=None,
                           updated_at=None, editable=False)

    def _stored_info(self, session: Session, row: StoredAdapter, operator: Operator,
                     with_versions: bool = True) -> AdapterInfo:
        error = self.live.stored_errors().get(row.id)
        versions = versions_of(session, row.id) if with_versions else []
        if not with_versions and row.live_version is None:
            # The list shows each adapter's state; one small query per adapter that is not live.
            versions = versions_of(session, row.id, limit=1)
        return AdapterInfo(id=row.id, document=row.document, source="database", version=row.version,
                           updated_by=row.updated_by, updated_at=row.updated_at,
                           editable=owns(operator, row.owner), error=error.detail if error else None,
                           live_version=row.live_version, shadow_version=row.shadow_version, versions=versions)


def stored_adapter(session: Session, adapter_id: str) -> StoredAdapter:
    row = session.get(StoredAdapter, adapter_id)
    if row is None:
        raise ResourceNotFound(f"no adapter {adapter_id!r}")
    return row


def versions_of(session: Session, adapter_id: str, limit: int | None = None) -> list[VersionInfo]:
    """Every version of an adapter, newest first (deleted adapters keep theirs)."""
    query = (select(AdapterVersion).where(AdapterVersion.adapter_id == adapter_id)
             .order_by(AdapterVersion.version.desc()))
    if limit is not None:
        query = query.limit(limit)
    return [VersionInfo(version=v.version, change=v.change, state=v.state, changed_by=v.changed_by,
                        changed_at=v.changed_at, approved_by=v.approved_by, document=v.document)
            for v in session.scalars(query)]


def _options_document(adapter: Adapter) -> dict[str, Any]:
    return adapter.options.model_dump(exclude_none=True, exclude_defaults=True)
