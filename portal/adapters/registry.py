"""Which kinds exist, and which adapters are configured (DESIGN §3).

Kinds come from the ``portal.adapters`` entry-point group, so a third-party
package adds one by declaring::

    [options.entry_points]
    portal.adapters =
        mykind = mypackage.adapter:MyAdapter

The four built-in kinds are always available, even when the distribution
metadata is missing (a source checkout run without ``pip install -e``). A kind
whose entry point cannot be imported is *reported* (see :func:`kind_problems`)
and adapters of that kind fail to load with a :class:`ConfigError`; it never
stops the others.

Adapters come from TOML files (:func:`load_adapter_dir`) or, later, from the
database (:func:`build_adapter` takes the same document as a dict). A broken
file is reported with the file, the key and the reason, and the rest still load.
Key chains are checked across the whole set (:meth:`AdapterRegistry.check_chains`):
an adapter whose key refers to an unknown adapter or field, or that sits in a
cycle, is reported and left out; the others still load.

:meth:`AdapterRegistry.health` reports each adapter's circuit breaker and
bulkhead (:mod:`portal.adapters.resilience`) for the monitor.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from portal.adapters import chain
from portal.adapters.base import Adapter, adapter_source
from portal.adapters.boundary import UNRESTRICTED, Boundary, building
from portal.adapters.config import AdapterConfig, parse_adapter_document, read_adapter_file
from portal.adapters.egress_check import check_document
from portal.adapters.resilience import guard_for
from portal.errors import ConfigError

log = logging.getLogger(__name__)

GROUP = "portal.adapters"

BUILTIN_KINDS: dict[str, str] = {
    "html": "portal.adapters.html:HtmlAdapter",
    "xml": "portal.adapters.xml:XmlAdapter",
    "soap": "portal.adapters.soap:SoapAdapter",
    "socket": "portal.adapters.socket:SocketAdapter",
}

_lock = threading.Lock()
_kinds: dict[str, type[Adapter]] | None = None
_problems: dict[str, str] = {}


# -- kinds ------------------------------------------------------------------------------


def _discover() -> dict[str, str]:
    """kind -> "module:Class", built-ins first; entry points may add kinds, not replace built-ins."""
    targets = dict(BUILTIN_KINDS)
    try:
        found = list(entry_points(group=GROUP))
    except Exception as exc:  # broken metadata must not stop the portal
        log.warning("could not read entry points of %s: %s", GROUP, exc)
        found = []
    for ep in found:
        if ep.name in BUILTIN_KINDS and ep.value != BUILTIN_KINDS[ep.name]:
            log.warning("entry point %s = %s ignored: %r is a built-in kind", ep.name, ep.value, ep.name)
            continue
        targets.setdefault(ep.name, ep.value)
    return targets


def _load_target(target: str) -> type[Adapter]:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Adapter)):
        raise TypeError(f"{target} is not an Adapter subclass")
    options = getattr(obj, "Options", None)
    if not (isinstance(options, type) and issubclass(options, BaseModel)):
        raise TypeError(f"{target} has no pydantic Options model")
    return obj


def _ensure_kinds() -> dict[str, type[Adapter]]:
    global _kinds
    if _kinds is None:
        with _lock:
            if _kinds is None:
                kinds: dict[str, type[Adapter]] = {}
                problems: dict[str, str] = {}
                for name, target in _discover().items():
                    try:
                        kinds[name] = _load_target(target)
                    except Exception as exc:  # a broken plugin is reported, not fatal
                        log.error("adapter kind %r (%s) could not be loaded: %s", name, target, exc)
                        problems[name] = f"{type(exc).__name__}: {exc}"
                _problems.clear()
                _problems.update(problems)
                _kinds = kinds
    return _kinds


def available_kinds() -> dict[str, type[Adapter]]:
    """Every kind that loaded, by name."""
    return dict(_ensure_kinds())


def kind_problems() -> dict[str, str]:
    """Kinds whose entry point could not be loaded, with the reason."""
    _ensure_kinds()
    return dict(_problems)


def kind_class(kind: str) -> type[Adapter] | None:
    return _ensure_kinds().get(kind)


def kind_options(kind: str) -> type[BaseModel] | None:
    """The pydantic model of a kind's own keys, or ``None`` for an unknown kind."""
    cls = kind_class(kind)
    return cls.Options if cls is not None else None


def reset_kinds() -> None:
    """Forget discovered kinds (tests, or after installing a plugin)."""
    global _kinds
    with _lock:
        _kinds = None
        _problems.clear()


# -- one adapter -------------------------------------------------------------------------


def _options_for(source: str) -> Callable[[str], type[BaseModel] | None]:
    def lookup(kind: str) -> type[BaseModel] | None:
        problems = kind_problems()
        if kind in problems:
            raise ConfigError(source, "kind", f"adapter kind {kind!r} could not be loaded: {problems[kind]}")
        return kind_options(kind)

    return lookup


def _instantiate(config: AdapterConfig, options: BaseModel, source: str, boundary: Boundary) -> Adapter:
    cls = kind_class(config.kind)
    assert cls is not None  # parse_adapter_document already rejected unknown kinds
    try:
        with adapter_source(source), building(boundary):
            adapter = cls(config, options)
    except ConfigError as exc:
        # Kinds name the adapter id as source; the file says more to whoever fixes it.
        raise ConfigError(source, exc.key, exc.reason) from exc
    except Exception as exc:
        log.exception("adapter %s (%s) could not be built", config.id, source)
        raise ConfigError(source, None, f"adapter could not be built: {exc}") from exc
    if boundary.guarded and boundary.egress is not None:
        try:
            check_document(adapter, source)  # every destination it names, before anyone can use it
        except ConfigError:
            _close_quietly(adapter)
            raise
    return adapter


def build_adapter(data: dict[str, Any], source: str, boundary: Boundary = UNRESTRICTED) -> Adapter:
    """Validate one adapter document (e.g. from the database) and build its adapter within ``boundary``."""
    config, options = parse_adapter_document(data, source, _options_for(source))
    return _instantiate(config, options, source, boundary)


def load_adapter_file(path: Path | str, boundary: Boundary = UNRESTRICTED) -> Adapter:
    path = Path(path)
    config, options = read_adapter_file(path, _options_for(str(path)))
    return _instantiate(config, options, str(path), boundary)


# -- a set of adapters -------------------------------------------------------------------


class AdapterRegistry:
    """The configured adapters by id, in a stable order (the order they were added)."""

    def __init__(self, adapters: Iterable[Adapter] = (), sources: dict[str, str] | None = None) -> None:
        self._adapters: dict[str, Adapter] = {}
        self._sources: dict[str, str] = {}
        for adapter in adapters:
            self.add(adapter, (sources or {}).get(adapter.id, adapter.id))

    def add(self, adapter: Adapter, source: str) -> None:
        """Add one adapter; a second adapter with the same id is a :class:`ConfigError`."""
        if adapter.id in self._adapters:
            raise ConfigError(
                source, "id", f"duplicate adapter id {adapter.id!r} (already defined in {self._sources[adapter.id]})"
            )
        self._adapters[adapter.id] = adapter
        self._sources[adapter.id] = source

    def remove(self, adapter_id: str) -> Adapter | None:
        """Take one adapter out (not closed: the caller decides when nobody uses it any more)."""
        self._sources.pop(adapter_id, None)
        return self._adapters.pop(adapter_id, None)

    def check_chains(self) -> list[ConfigError]:
        """Remove (and close) every adapter whose key chain cannot work; one error each, naming its source.

        See :func:`portal.adapters.chain.find_problems`: unknown upstream adapter or
        field, a cycle, or an upstream that is itself rejected.
        """
        errors: list[ConfigError] = []
        for problem in chain.find_problems(list(self._adapters.values())):
            source = self._sources.get(problem.adapter_id, problem.adapter_id)
            errors.append(chain.ChainError(problem.adapter_id, problem.reason, problem.involved, source=source))
            adapter = self.remove(problem.adapter_id)
            if adapter is not None:
                _close_quietly(adapter)
        return errors

    def waves(self) -> list[list[Adapter]]:
        """The adapters in dependency waves (see :func:`portal.adapters.chain.plan_waves`)."""
        return chain.plan_waves(list(self._adapters.values()))

    def health(self) -> dict[str, dict[str, Any]]:
        """id -> ``{state, failures, opened_at, retry_in_s, in_flight, max_concurrency}``.

        ``state`` is ``closed``, ``open`` or ``half_open``; ``opened_at`` is seconds
        since the epoch (``None`` while closed).
        """
        return {adapter_id: guard_for(adapter).health() for adapter_id, adapter in self._adapters.items()}

    def breaker_state(self, adapter_id: str) -> dict[str, Any] | None:
        adapter = self._adapters.get(adapter_id)
        return guard_for(adapter).health() if adapter is not None else None

    def get(self, adapter_id: str) -> Adapter | None:
        return self._adapters.get(adapter_id)

    def source_of(self, adapter_id: str) -> str | None:
        return self._sources.get(adapter_id)

    def __getitem__(self, adapter_id: str) -> Adapter:
        return self._adapters[adapter_id]

    def __contains__(self, adapter_id: object) -> bool:
        return adapter_id in self._adapters

    def __iter__(self) -> Iterator[Adapter]:
        return iter(list(self._adapters.values()))

    def __len__(self) -> int:
        return len(self._adapters)

    def ids(self) -> list[str]:
        return list(self._adapters)

    def enabled(self) -> list[Adapter]:
        return [a for a in self._adapters.values() if a.config.enabled]

    def close(self) -> None:
        """Release every adapter's pooled connections; one failure does not stop the rest."""
        for adapter in self._adapters.values():
            try:
                adapter.close()
            except Exception:
                log.exception("closing adapter %s failed", adapter.id)


@dataclass
class LoadedAdapters:
    """What :func:`load_adapter_dir` found: the adapters that loaded and the files that did not."""

    registry: AdapterRegistry
    errors: list[ConfigError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def load_adapter_dir(path: Path | str, boundary: Boundary = UNRESTRICTED) -> LoadedAdapters:
    """Load every ``*.toml`` in ``path``, sorted by file name.

    Each broken file becomes one :class:`ConfigError` in ``errors``; the other
    files still load. Two files with the same ``id`` are an error naming both;
    the first (by file name) is kept. Key chains are checked last, across all
    files: an adapter in a cycle, or keyed on an unknown adapter or field, is
    an error naming its file and the adapters involved, and is not loaded.
    """
    directory = Path(path)
    registry = AdapterRegistry()
    errors: list[ConfigError] = []
    if not directory.is_dir():
        errors.append(ConfigError(str(directory), None, "adapter directory not found"))
        return LoadedAdapters(registry, errors)
    for file in sorted(directory.glob("*.toml"), key=lambda p: p.name):
        try:
            adapter = load_adapter_file(file, boundary)
        except ConfigError as exc:
            log.warning("adapter file rejected: %s", exc)
            errors.append(exc)
            continue
        try:
            registry.add(adapter, str(file))
        except ConfigError as exc:
            log.warning("adapter file rejected: %s", exc)
            errors.append(exc)
            _close_quietly(adapter)
    for problem in registry.check_chains():
        log.warning("adapter file rejected: %s", problem)
        errors.append(problem)
    return LoadedAdapters(registry, errors)


def _close_quietly(adapter: Adapter) -> None:
    try:
        adapter.close()
    except Exception:
        log.exception("closing rejected adapter %s failed", adapter.id)
