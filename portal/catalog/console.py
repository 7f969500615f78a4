"""The adapters' test console: run one version of an adapter for one number, as its owner or an approver.

Any version can be tested (a draft before asking for approval, an approved one
before promoting it); the live version runs on the live adapter, any other on
a throw-away adapter built inside the same guarded boundary. The parsed result
is masked and withheld by :func:`portal.rbac.redact.redact_for_console` — never
more than the tester's own lookup would show — and the raw answer is shown
only to holders of ``adapters.raw`` (granted to no built-in role), each view
audited as ``adapter.raw_view``.

Engine code: takes a session and an operator, flushes; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.service import Operator
from portal.adapters.base import Adapter, Status, SystemResult
from portal.adapters.chain import KeyUnavailable, resolve_key, upstream_ids, with_upstreams
from portal.audit.record import Actor, Event, record
from portal.catalog.live import LiveCatalog
from portal.catalog.models import AdapterVersion, StoredAdapter
from portal.catalog.ownership import APPROVE, RAW, owns, require_reader
from portal.errors import ConfigError, Conflict, InvalidDocument, PermissionDenied, ResourceNotFound
from portal.numbers import NumberPolicy
from portal.rbac.policy import permits
from portal.rbac.redact import redact_for_console


@dataclass(frozen=True)
class TestReport:
    result: SystemResult
    key: str
    version: int | None  # None: a file-based adapter
    masked: list[str] = field(default_factory=list)
    rows_withheld: dict[str, int] = field(default_factory=dict)
    withheld: bool = False  # a content rule withholds the whole system for this customer
    raw_allowed: bool = False

    def to_dict(self) -> dict[str, Any]:
        result = self.result.to_dict(include_raw=self.raw_allowed)
        return {"key": self.key, "version": self.version, "result": result, "masked": self.masked,
                "rows_withheld": self.rows_withheld, "withheld": self.withheld, "raw_allowed": self.raw_allowed}


class TestConsole:
    def __init__(self, live: LiveCatalog, numbers: NumberPolicy) -> None:
        self.live = live
        self.numbers = numbers

    def test(self, session: Session, operator: Operator, actor: Actor, adapter_id: str, typed_number: str,
             timeout_s: float, version: int | None = None) -> TestReport:
        """Run ``version`` (default: the newest) of one adapter for one number; audited."""
        require_reader(operator)
        adapter, version, throwaway = self._adapter(session, operator, adapter_id, version)
        raw_allowed = permits(operator.permissions, RAW)
        try:
            number = self.numbers.normalise(typed_number)
            if operator.policy.looks_up and not operator.policy.customer(number).allowed:
                raise PermissionDenied(f"customer {number} is outside what your roles may see")
            key = self._key_for(session, adapter, number, timeout_s)
            result = (adapter.lookup(key, timeout=timeout_s, capture_raw=raw_allowed)
                      if isinstance(key, str) else key)
        finally:
            if throwaway:
                adapter.close()
        redacted = redact_for_console(operator.policy, adapter.config, result)
        record(session, actor, Event(action="adapter.test", target=adapter_id, customer=number,
                                     outcome=result.status.value,
                                     details={"version": version, "elapsed_ms": result.elapsed_ms,
                                              "error": result.error, "masked": redacted.masked,
                                              "withheld": not redacted.visible}))
        shown_raw = raw_allowed and result.raw_excerpt is not None
        if shown_raw:
            record(session, actor, Event(action="adapter.raw_view", target=adapter_id, customer=number,
                                         details={"version": version, "characters": len(result.raw_excerpt or "")}))
        session.flush()
        shown = redacted.result if redacted.visible else SystemResult(
            system_id=result.system_id, status=result.status, elapsed_ms=result.elapsed_ms)
        if shown_raw:
            shown = replace(shown, raw_excerpt=result.raw_excerpt)
        return TestReport(result=shown, key=key if isinstance(key, str) else number, version=version,
                          masked=redacted.masked, rows_withheld=redacted.rows_withheld,
                          withheld=not redacted.visible, raw_allowed=raw_allowed)

    def _adapter(self, session: Session, operator: Operator, adapter_id: str,
                 version: int | None) -> tuple[Adapter, int | None, bool]:
        """The adapter to run, its version, and whether it is a throw-away the caller closes."""
        if adapter_id in self.live.file_adapters:
            adapter = self.live.file_adapters[adapter_id]
            self._may_test(operator, adapter_id, adapter.config.owner)
            if version is not None:
                raise InvalidDocument("version", f"{adapter_id!r} is defined in a file and has no versions")
            return adapter, None, False
        row = session.get(StoredAdapter, adapter_id)
        if row is None:
            raise ResourceNotFound(f"no adapter {adapter_id!r}")
        self._may_test(operator, adapter_id, row.owner)
        version = row.version if version is None else version
        if version == row.live_version:
            live = self.live.get(session, adapter_id)
            if live is not None:
                return live, version, False
        stored = session.scalar(select(AdapterVersion).where(AdapterVersion.adapter_id == adapter_id,
                                                             AdapterVersion.version == version))
        if stored is None or stored.document is None:
            raise ResourceNotFound(f"no version {version} of adapter {adapter_id!r}")
        try:
            return self.live.build_version(adapter_id, version, stored.document), version, True
        except ConfigError as exc:
            raise Conflict(f"version {version} of {adapter_id!r} cannot be built: {exc.detail}") from exc

    @staticmethod
    def _may_test(operator: Operator, adapter_id: str, owner: str | None) -> None:
        if not (owns(operator, owner) or permits(operator.permissions, APPROVE)):
            raise PermissionDenied(f"only the owners of {adapter_id!r}, approvers and admins may test it")

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
