"""The adapters in force right now: files loaded at start, plus the *live* version of each registered one.

A registered adapter reaches agents only through its live version (see
:mod:`portal.catalog.lifecycle`); drafts and approved versions are built on
demand by the test console. A *shadow* candidate, when an owner has chosen
one, is built beside the live version and run on real lookups by
:mod:`portal.catalog.shadow`, never shown to anyone.

Several portal instances share one database, so each instance compares the
catalogue's generation (the newest version row and the newest lifecycle
transition) on every lookup — one query — and rebuilds only the adapters whose
live or shadow version changed. Unchanged adapters keep their connection pools
and circuit breakers. Replaced adapters are closed after a grace period, so
lookups still using them can finish.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from portal.adapters.base import Adapter
from portal.adapters.boundary import UNRESTRICTED, Boundary
from portal.adapters.registry import build_adapter, load_adapter_dir
from portal.catalog.models import AdapterTransition, AdapterVersion, StoredAdapter
from portal.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Built:
    version: int
    adapter: Adapter | None
    error: ConfigError | None


class LiveCatalog:
    def __init__(self, adapters_dir: Path | str, grace_s: float = 10.0, boundary: Boundary = UNRESTRICTED) -> None:
        self.boundary = boundary
        loaded = load_adapter_dir(adapters_dir, boundary)
        self.file_adapters: dict[str, Adapter] = {adapter.id: adapter for adapter in loaded.registry}
        self.file_sources: dict[str, str] = {a: loaded.registry.source_of(a) or "" for a in self.file_adapters}
        self.file_errors: list[ConfigError] = list(loaded.errors)
        for error in self.file_errors:
            log.error("adapter not loaded: %s", error.detail)
        self._grace_s = grace_s
        self._stored: dict[str, _Built] = {}
        self._shadows: dict[str, _Built] = {}
        self._generation: tuple[Any, ...] | None = None
        self._ordered: list[Adapter] = sorted(self.file_adapters.values(), key=lambda a: a.id)
        self._lock = threading.Lock()

    def adapters(self, session: Session) -> list[Adapter]:
        """Every adapter in force, ordered by id, after noticing changes made anywhere."""
        self._refresh(session)
        return self._ordered

    def get(self, session: Session, adapter_id: str) -> Adapter | None:
        return next((a for a in self.adapters(session) if a.id == adapter_id), None)

    def shadows(self, session: Session) -> dict[str, tuple[int, Adapter]]:
        """Live adapter id -> (candidate version, candidate adapter) for every shadow run chosen by an owner.

        As of the last refresh: called right after a lookup's :meth:`adapters`, so the hot path asks the
        database for the generation once, not twice.
        """
        return {key: (built.version, built.adapter) for key, built in self._shadows.items()
                if built.adapter is not None and key in {a.id for a in self._ordered}}

    def live_versions(self) -> dict[str, int]:
        """Registered adapter id -> the version agents use now (as of the last refresh)."""
        return {key: built.version for key, built in self._stored.items() if built.adapter is not None}

    def stored_errors(self) -> dict[str, ConfigError]:
        """Live documents that no longer build (e.g. a kind whose package was removed)."""
        return {key: built.error for key, built in self._stored.items() if built.error is not None}

    def build_version(self, adapter_id: str, version: int, document: dict[str, Any]) -> Adapter:
        """A throw-away adapter of one stored version (the test console); the caller closes it."""
        return build_adapter(dict(document), source=f"adapter {adapter_id} v{version}", boundary=self.boundary)

    def close(self) -> None:
        with self._lock:
            built = [*self._stored.values(), *self._shadows.values()]
            for adapter in [*self.file_adapters.values(), *(b.adapter for b in built if b.adapter)]:
                adapter.close()
            self._stored.clear()
            self._shadows.clear()

    # -- keeping up with the database ----------------------------------------------------

    def _refresh(self, session: Session) -> None:
        generation = tuple(session.execute(select(
            select(func.max(AdapterVersion.id)).scalar_subquery(),
            select(func.max(AdapterTransition.id)).scalar_subquery(),
        )).one())
        if generation != self._generation:
            with self._lock:
                if generation != self._generation:
                    self._reload(session, generation)

    def _reload(self, session: Session, generation: tuple[Any, ...]) -> None:
        live_doc, shadow_doc = aliased(AdapterVersion), aliased(AdapterVersion)
        rows = session.execute(
            select(StoredAdapter.id, StoredAdapter.live_version, live_doc.document,
                   StoredAdapter.shadow_version, shadow_doc.document)
            .outerjoin(live_doc, and_(live_doc.adapter_id == StoredAdapter.id,
                                      live_doc.version == StoredAdapter.live_version))
            .outerjoin(shadow_doc, and_(shadow_doc.adapter_id == StoredAdapter.id,
                                        shadow_doc.version == StoredAdapter.shadow_version))
        ).all()
        retired: list[Adapter] = []
        live = {r[0]: (r[1], r[2]) for r in rows if r[1] is not None and r[2] is not None}
        shadows = {r[0]: (r[3], r[4]) for r in rows if r[3] is not None and r[4] is not None}
        self._stored = self._rebuild(self._stored, live, retired)
        self._shadows = self._rebuild(self._shadows, shadows, retired)
        stored = [b.adapter for key, b in self._stored.items() if b.adapter is not None and key not in self.file_adapters]
        self._ordered = sorted([*self.file_adapters.values(), *stored], key=lambda a: a.id)
        self._generation = generation
        if retired:
            timer = threading.Timer(self._grace_s, _close_all, args=(retired,))
            timer.daemon = True
            timer.start()

    def _rebuild(self, current: dict[str, _Built], wanted: dict[str, tuple[int, dict[str, Any]]],
                 retired: list[Adapter]) -> dict[str, _Built]:
        fresh: dict[str, _Built] = {}
        for adapter_id, (version, document) in wanted.items():
            built = current.get(adapter_id)
            if built is not None and built.version == version:
                fresh[adapter_id] = built
                continue
            if built is not None and built.adapter is not None:
                retired.append(built.adapter)
            fresh[adapter_id] = self._build(adapter_id, version, document)
        retired += [b.adapter for key, b in current.items() if key not in wanted and b.adapter is not None]
        return fresh

    def _build(self, adapter_id: str, version: int, document: dict[str, Any]) -> _Built:
        try:
            return _Built(version, self.build_version(adapter_id, version, document), None)
        except ConfigError as exc:
            log.error("stored adapter %s v%s not loaded: %s", adapter_id, version, exc.detail)
            return _Built(version, None, exc)


def _close_all(adapters: list[Adapter]) -> None:
    for adapter in adapters:
        try:
            adapter.close()
        except Exception:  # closing is best effort; the adapter is gone either way
            log.exception("closing retired adapter %s failed", adapter.id)
