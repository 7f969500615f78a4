"""Shadow runs: a candidate adapter version answers real lookups beside the live one, shown to nobody.

After an agent's lookup, each system with a shadow candidate
(:meth:`portal.catalog.lifecycle.Lifecycle.shadow`) is asked again by the
candidate, on the fan-out pool, *after* the agent has their answer: a slow or
broken candidate never costs an agent anything. Its answer is compared with
the live one's and only the verdict is kept — the two statuses and, per field,
``same``, ``differs``, ``missing`` (the candidate has no value where the live
version has one) or ``new`` — never a value or a customer number, so a shadow
run stores nothing beyond what the audit log already keeps.

The owner's page reads :func:`shadow_report`: over the last N lookups, how often
the candidate agreed with the live version, per field and per status.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.adapters.base import Adapter, SystemResult
from portal.adapters.chain import KeyUnavailable, resolve_key
from portal.catalog.live import LiveCatalog
from portal.catalog.models import ShadowComparison

log = logging.getLogger(__name__)

#: Shadow runs waiting or running at once; beyond this, lookups are not shadowed (agents come first).
MAX_PENDING = 32
DEFAULT_WINDOW = 100


class ShadowRunner:
    def __init__(self, live: LiveCatalog, executor: Executor, sessions: sessionmaker, deadline_s: float) -> None:
        self.live = live
        self.executor = executor
        self.sessions = sessions
        self.deadline_s = deadline_s
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def after_lookup(self, session: Session, number: str, asked: Sequence[Adapter],
                     results: Sequence[SystemResult]) -> None:
        """Queue a shadow run for every asked system that has a candidate; returns at once."""
        shadows = self.live.shadows(session)
        if not shadows:
            return
        by_id = {result.system_id: result for result in results}
        names = {adapter.id: adapter.config.name for adapter in asked}
        live_versions = self.live.live_versions()
        for adapter in asked:
            if adapter.id not in shadows or adapter.id not in by_id:
                continue
            version, candidate = shadows[adapter.id]
            try:
                key = resolve_key(candidate.config.key, number, by_id, names=names)
            except KeyUnavailable:
                continue  # the candidate could not be asked what the live version was asked
            self._submit(candidate, version, live_versions.get(adapter.id), key, by_id[adapter.id], adapter)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no shadow run is pending (tests, shutdown); False if some still are."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def _submit(self, candidate: Adapter, version: int, live_version: int | None, key: str,
                live_result: SystemResult, live_adapter: Adapter) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                log.info("shadow run of %s v%s skipped: %d runs pending", candidate.id, version, len(self._pending))
                return
            future = self.executor.submit(self._run, candidate, version, live_version, key, live_result,
                                          live_adapter)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._idle:
            self._pending.discard(future)
            self._idle.notify_all()

    def _run(self, candidate: Adapter, version: int, live_version: int | None, key: str,
             live_result: SystemResult, live_adapter: Adapter) -> None:
        try:
            result = candidate.lookup(key, timeout=self.deadline_s)
            verdicts = compare_fields(live_adapter, live_result, candidate, result)
            with self.sessions() as session:
                session.add(ShadowComparison(adapter_id=candidate.id, candidate_version=version,
                                             live_version=live_version, live_status=live_result.status.value,
                                             candidate_status=result.status.value, fields=verdicts))
                session.commit()
        except Exception:  # a shadow run must never disturb anything else
            log.exception("shadow run of %s v%s failed", candidate.id, version)


def compare_fields(live_adapter: Adapter, live: SystemResult, candidate_adapter: Adapter,
                   candidate: SystemResult) -> dict[str, str]:
    """Per field of either version: ``same``, ``differs``, ``missing`` or ``new`` (no values kept)."""
    names = [*live_adapter.config.fields, *(n for n in candidate_adapter.config.fields
                                            if n not in live_adapter.config.fields)]
    verdicts: dict[str, str] = {}
    for name in names:
        old, new = live.fields.get(name), candidate.fields.get(name)
        if old == new:
            verdicts[name] = "same"
        elif new is None:
            verdicts[name] = "missing"
        elif old is None:
            verdicts[name] = "new"
        else:
            verdicts[name] = "differs"
    return verdicts


@dataclass(frozen=True)
class ShadowReport:
    adapter_id: str
    version: int
    lookups: int
    statuses: dict[str, int]  # "live -> candidate": count
    status_agreement: float | None  # share of lookups where both statuses were the same
    fields: dict[str, dict[str, Any]]  # field -> {same, differs, missing, new, agreement}

    def to_dict(self) -> dict[str, Any]:
        return {"adapter_id": self.adapter_id, "version": self.version, "lookups": self.lookups,
                "statuses": self.statuses, "status_agreement": self.status_agreement, "fields": self.fields}


def shadow_report(session: Session, adapter_id: str, version: int, window: int = DEFAULT_WINDOW) -> ShadowReport:
    """How candidate ``version`` compared with the live version over its last ``window`` shadow runs."""
    rows = session.scalars(select(ShadowComparison)
                           .where(ShadowComparison.adapter_id == adapter_id,
                                  ShadowComparison.candidate_version == version)
                           .order_by(ShadowComparison.id.desc()).limit(window)).all()
    statuses = Counter(f"{row.live_status} -> {row.candidate_status}" for row in rows)
    agreed = sum(row.live_status == row.candidate_status for row in rows)
    return ShadowReport(adapter_id=adapter_id, version=version, lookups=len(rows), statuses=dict(statuses),
                        status_agreement=round(agreed / len(rows), 3) if rows else None,
                        fields=_field_summary(row.fields for row in rows))


def _field_summary(verdicts: Any) -> dict[str, dict[str, Any]]:
    counts: dict[str, Counter[str]] = {}
    for per_field in verdicts:
        for name, verdict in (per_field or {}).items():
            counts.setdefault(name, Counter())[verdict] += 1
    summary: dict[str, dict[str, Any]] = {}
    for name, counter in counts.items():
        total = sum(counter.values())
        summary[name] = {"same": counter["same"], "differs": counter["differs"], "missing": counter["missing"],
                         "new": counter["new"], "agreement": round(counter["same"] / total, 3) if total else None}
    return summary


def live_results_by_id(results: Sequence[SystemResult]) -> Mapping[str, SystemResult]:
    return {result.system_id: result for result in results}
