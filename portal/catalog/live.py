"""The adapters in force right now: files loaded at start, plus those registered in the database.

Several portal instances share one database, so each instance compares the
catalogue's generation (the newest version row) on every lookup — one indexed
query — and rebuilds only the adapters whose version changed. Unchanged
adapters keep their connection pools and circuit breakers. Replaced adapters
are closed after a grace period, so lookups still using them can finish.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.adapters.base import Adapter
from portal.adapters.registry import build_adapter, load_adapter_dir
from portal.catalog.models import AdapterVersion, StoredAdapter
from portal.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Built:
    version: int
    adapter: Adapter | None
    error: ConfigError | None


class LiveCatalog:
    def __init__(self, adapters_dir: Path | str, grace_s: float = 10.0) -> None:
        loaded = load_adapter_dir(adapters_dir)
        self.file_adapters: dict[str, Adapter] = {adapter.id: adapter for adapter in loaded.registry}
        self.file_sources: dict[str, str] = {a: loaded.registry.source_of(a) or "" for a in self.file_adapters}
        self.file_errors: list[ConfigError] = list(loaded.errors)
        for error in self.file_errors:
            log.error("adapter not loaded: %s", error.detail)
        self._grace_s = grace_s
        self._stored: dict[str, _Built] = {}
        self._generation: int | None = -1
        self._ordered: list[Adapter] = sorted(self.file_adapters.values(), key=lambda a: a.id)
        self._lock = threading.Lock()

    def adapters(self, session: Session) -> list[Adapter]:
        """Every adapter in force, ordered by id, after noticing changes made anywhere."""
        generation = session.scalar(select(func.max(AdapterVersion.id)))
        if generation != self._generation:
            with self._lock:
                if generation != self._generation:
                    self._reload(session, generation)
        return self._ordered

    def get(self, session: Session, adapter_id: str) -> Adapter | None:
        return next((a for a in self.adapters(session) if a.id == adapter_id), None)

    def stored_errors(self) -> dict[str, ConfigError]:
        """Stored documents that no longer build (e.g. a kind whose package was removed)."""
        return {key: built.error for key, built in self._stored.items() if built.error is not None}

    def close(self) -> None:
        with self._lock:
            for adapter in [*self.file_adapters.values(), *(b.adapter for b in self._stored.values() if b.adapter)]:
                adapter.close()
            self._stored.clear()

    def _reload(self, session: Session, generation: int | None) -> None:
        rows = {row.id: row for row in session.scalars(select(StoredAdapter))}
        retired: list[Adapter] = []
        fresh: dict[str, _Built] = {}
        for adapter_id, row in rows.items():
            current = self._stored.get(adapter_id)
            if current is not None and current.version == row.version:
                fresh[adapter_id] = current
                continue
            if current is not None and current.adapter is not None:
                retired.append(current.adapter)
            fresh[adapter_id] = self._build(row)
        retired += [b.adapter for key, b in self._stored.items() if key not in rows and b.adapter is not None]
        self._stored = fresh
        stored = [b.adapter for key, b in fresh.items() if b.adapter is not None and key not in self.file_adapters]
        self._ordered = sorted([*self.file_adapters.values(), *stored], key=lambda a: a.id)
        self._generation = generation
        if retired:
            timer = threading.Timer(self._grace_s, _close_all, args=(retired,))
            timer.daemon = True
            timer.start()

    @staticmethod
    def _build(row: StoredAdapter) -> _Built:
        try:
            return _Built(row.version, build_adapter(dict(row.document), source=f"adapter {row.id}"), None)
        except ConfigError as exc:
            log.error("stored adapter %s v%s not loaded: %s", row.id, row.version, exc.detail)
            return _Built(row.version, None, exc)


def _close_all(adapters: list[Adapter]) -> None:
    for adapter in adapters:
        try:
            adapter.close()
        except Exception:  # closing is best effort; the adapter is gone either way
            log.exception("closing retired adapter %s failed", adapter.id)
