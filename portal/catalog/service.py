"""Registering, changing and testing adapters: ownership, validation, versions and audit.

Admins (``adapters.manage``) manage every registered adapter; system owners
(``adapters.own``) only those whose ``owner`` is one of their teams. Adapters
defined in files belong to the deployment and are read-only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.accounts.service import Operator
from portal.adapters.base import Adapter, Status, SystemResult
from portal.adapters.chain import KeyUnavailable, find_problems, resolve_key, upstream_ids, with_upstreams
from portal.adapters.registry import build_adapter
from portal.audit.record import Actor, Event, record
from portal.catalog.live import LiveCatalog
from portal.catalog.models import AdapterVersion, StoredAdapter
from portal.errors import (
    ConfigError,
    Conflict,
    InvalidDocument,
    PermissionDenied,
    ResourceNotFound,
)
from portal.lookup.numbers import NumberPolicy
from portal.rbac.policy import permits

MANAGE_ALL = "adapters.manage"
MANAGE_OWN = "adapters.own"


@dataclass(frozen=True)
class AdapterInfo:
    """An adapter as admins and owners see it."""

    id: str
    document: dict[str, Any]
    source: str  # "file" or "database"
    version: int | None
    updated_by: str | None
    updated_at: datetime | None
    editable: bool
    error: str | None = None

    def to_dict(self, with_document: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.document.get("name"),
            "kind": self.document.get("kind"),
            "owner": self.document.get("owner"),
            "enabled": self.document.get("enabled", True),
            "source": self.source,
            "version": self.version,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "editable": self.editable,
            "error": self.error,
        }
        if with_document:
            body["document"] = self.document
        return body


@dataclass(frozen=True)
class TestReport:
    result: SystemResult
    key: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "result": self.result.to_dict(include_raw=True)}


class CatalogService:
    def __init__(self, live: LiveCatalog, numbers: NumberPolicy) -> None:
        self.live = live
        self.numbers = numbers

    # --- reading -----------------------------------------------------------------------

    def list(self, session: Session, operator: Operator) -> list[AdapterInfo]:
        self._require_reader(operator)
        stored = {row.id: row for row in session.scalars(select(StoredAdapter))}
        infos = [self._file_info(adapter_id) for adapter_id in self.live.file_adapters]
        infos += [self._stored_info(row, operator) for key, row in stored.items() if key not in self.live.file_adapters]
        return sorted(infos, key=lambda info: info.id)

    def get(self, session: Session, operator: Operator, adapter_id: str) -> AdapterInfo:
        self._require_reader(operator)
        if adapter_id in self.live.file_adapters:
            return self._file_info(adapter_id)
        return self._stored_info(self._stored(session, adapter_id), operator)

    def history(self, session: Session, operator: Operator, adapter_id: str) -> list[dict[str, Any]]:
        self._require_reader(operator)
        rows = session.scalars(select(AdapterVersion).where(AdapterVersion.adapter_id == adapter_id)
                               .order_by(AdapterVersion.version.desc()))
        versions = [{"version": v.version, "change": v.change, "changed_by": v.changed_by,
                     "changed_at": v.changed_at.isoformat(), "document": v.document} for v in rows]
        if not versions and adapter_id not in self.live.file_adapters:
            raise ResourceNotFound(f"no adapter {adapter_id!r}")
        return versions

    # --- changing ----------------------------------------------------------------------

    def create(self, session: Session, operator: Operator, actor: Actor, document: dict[str, Any]) -> AdapterInfo:
        self._require_reader(operator)
        document = self._with_default_owner(document, operator)
        adapter_id = self._validate(session, document)
        self._may_own(operator, document.get("owner"))
        if adapter_id in self.live.file_adapters:
            raise Conflict(f"adapter {adapter_id!r} is defined in {self.live.file_sources[adapter_id]}; change that file")
        if session.get(StoredAdapter, adapter_id) is not None:
            raise Conflict(f"adapter {adapter_id!r} already exists")
        version = self._next_version(session, adapter_id)
        row = StoredAdapter(id=adapter_id, owner=document.get("owner"), document=document, version=version,
                            updated_by=operator.username)
        session.add(row)
        self._record_change(session, actor, row, "create", before=None)
        session.commit()
        return self._stored_info(row, operator)

    def update(self, session: Session, operator: Operator, actor: Actor, adapter_id: str,
               document: dict[str, Any]) -> AdapterInfo:
        row = self._editable(session, operator, adapter_id)
        document = self._with_default_owner(document, operator)
        if document.get("id", adapter_id) != adapter_id:
            raise InvalidDocument("id", f"must stay {adapter_id!r}; register a new adapter to change the id")
        document = {"id": adapter_id, **document}
        self._validate(session, document)
        self._may_own(operator, document.get("owner"))
        before = row.document
        row.document, row.owner = document, document.get("owner")
        row.version = self._next_version(session, adapter_id)
        row.updated_by, row.updated_at = operator.username, datetime.now(timezone.utc)
        self._record_change(session, actor, row, "update", before=before)
        session.commit()
        return self._stored_info(row, operator)

    def delete(self, session: Session, operator: Operator, actor: Actor, adapter_id: str) -> None:
        row = self._editable(session, operator, adapter_id)
        version = self._next_version(session, adapter_id)
        session.add(AdapterVersion(adapter_id=adapter_id, version=version, change="delete", document=None,
                                   changed_by=operator.username))
        record(session, actor, Event(action="adapter.delete", target=adapter_id,
                                     details={"version": version, "before": row.document}))
        session.delete(row)
        session.commit()

    # --- the test console --------------------------------------------------------------

    def test(self, session: Session, operator: Operator, actor: Actor, adapter_id: str, typed_number: str,
             timeout_s: float) -> TestReport:
        """Run one adapter for one number, with its raw answer, for its owner or an admin."""
        info = self.get(session, operator, adapter_id)
        if not self._owns(operator, info.document.get("owner")):
            raise PermissionDenied(f"only the owners of {adapter_id!r} and admins may test it")
        number = self.numbers.normalise(typed_number)
        adapter = self.live.get(session, adapter_id)
        if adapter is None:
            raise Conflict(f"adapter {adapter_id!r} is not loaded: {info.error or 'it is disabled'}")
        key = self._key_for(session, adapter, number, timeout_s)
        result = adapter.lookup(key, timeout=timeout_s, capture_raw=True) if isinstance(key, str) else key
        record(session, actor, Event(action="adapter.test", target=adapter_id, customer=number,
                                     outcome=result.status.value,
                                     details={"elapsed_ms": result.elapsed_ms, "error": result.error}))
        session.commit()
        return TestReport(result=result, key=key if isinstance(key, str) else number)

    def _key_for(self, session: Session, adapter: Adapter, number: str, timeout_s: float) -> str | SystemResult:
        """The key this adapter is asked with: the number, or a value its upstreams answer first."""
        if not upstream_ids(adapter):
            return number
        upstreams = [a for a in with_upstreams(adapter, self.live.adapters(session)) if a.id != adapter.id]
        results = {a.id: a.lookup(number, timeout=timeout_s) for a in upstreams}
        try:
            return resolve_key(adapter.config.key, number, results,
                               names={a.id: a.config.name for a in upstreams})
        except KeyUnavailable as exc:
            return SystemResult(system_id=adapter.id, status=Status.ERROR, error=exc.detail)

    # --- helpers -----------------------------------------------------------------------

    def _require_reader(self, operator: Operator) -> None:
        if not (permits(operator.permissions, MANAGE_ALL) or permits(operator.permissions, MANAGE_OWN)):
            raise PermissionDenied("managing adapters needs adapters.manage or adapters.own")

    def _owns(self, operator: Operator, owner: str | None) -> bool:
        if permits(operator.permissions, MANAGE_ALL):
            return True
        return permits(operator.permissions, MANAGE_OWN) and owner is not None and (
            owner in operator.teams or owner == operator.username)

    def _may_own(self, operator: Operator, owner: str | None) -> None:
        if not self._owns(operator, owner):
            teams = ", ".join(operator.teams) or "none"
            raise PermissionDenied(f"you may only manage adapters owned by your teams ({teams}), not {owner!r}")

    def _editable(self, session: Session, operator: Operator, adapter_id: str) -> StoredAdapter:
        self._require_reader(operator)
        if adapter_id in self.live.file_adapters:
            raise Conflict(f"adapter {adapter_id!r} is defined in {self.live.file_sources[adapter_id]}; change that file")
        row = self._stored(session, adapter_id)
        self._may_own(operator, row.owner)
        return row

    @staticmethod
    def _stored(session: Session, adapter_id: str) -> StoredAdapter:
        row = session.get(StoredAdapter, adapter_id)
        if row is None:
            raise ResourceNotFound(f"no adapter {adapter_id!r}")
        return row

    @staticmethod
    def _with_default_owner(document: Any, operator: Operator) -> dict[str, Any]:
        if not isinstance(document, dict):
            raise InvalidDocument(None, "an adapter document must be a JSON object")
        if "owner" not in document and not permits(operator.permissions, MANAGE_ALL) and operator.teams:
            return {**document, "owner": operator.teams[0]}
        return dict(document)

    def _validate(self, session: Session, document: dict[str, Any]) -> str:
        """Build the adapter once (without network) to check every key and its key chain; returns its id."""
        try:
            adapter: Adapter = build_adapter(document, source=f"adapter {document.get('id', '?')}")
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
                                   changed_by=row.updated_by))
        action = "adapter.register" if change == "create" else "adapter.update"
        record(session, actor, Event(action=action, target=row.id,
                                     details={"version": row.version, "before": before, "after": row.document}))

    def _file_info(self, adapter_id: str) -> AdapterInfo:
        adapter = self.live.file_adapters[adapter_id]
        document = adapter.config.model_dump(exclude_none=True) | _options_document(adapter)
        return AdapterInfo(id=adapter_id, document=document, source="file", version=None, updated_by=None,
                           updated_at=None, editable=False)

    def _stored_info(self, row: StoredAdapter, operator: Operator) -> AdapterInfo:
        error = self.live.stored_errors().get(row.id)
        return AdapterInfo(id=row.id, document=row.document, source="database", version=row.version,
                           updated_by=row.updated_by, updated_at=row.updated_at,
                           editable=self._owns(operator, row.owner), error=error.detail if error else None)


def _options_document(adapter: Adapter) -> dict[str, Any]:
    return adapter.options.model_dump(exclude_none=True, exclude_defaults=True)
