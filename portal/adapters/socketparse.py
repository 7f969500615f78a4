"""Reading fields out of a decoded raw-TCP answer (the ``socket`` kind's ``parse`` key).

* ``regex`` - ``pattern`` with named groups; a field's ``path`` is a group name.
* ``kv``    - ``key=value`` pairs split by ``delimiter``; ``path`` is the key.
* ``fixed`` - character columns; ``path`` is ``start:end`` (0-based, end exclusive).
* ``split`` - positional fields split by ``delimiter``; ``path`` is a 0-based index.

Tables are always a regular expression applied with ``finditer`` to the whole
answer; ``columns`` name its groups.

Paths are checked when the adapter is built, so a wrong group name or column is
a :class:`ConfigError` naming the key, not a blank panel later. Patterns are the
owner's: they run within a time budget (:mod:`portal.adapters.patterns`).
"""

from __future__ import annotations

import re

from portal.adapters.base import Extracted, LookupContext
from portal.adapters.boundary import DEFAULT_REGEX_BUDGET_S
from portal.adapters.config import AdapterConfig
from portal.adapters.patterns import BoundedPattern
from portal.errors import BackendProtocolError, ConfigError


def parse_columns(path: str, source: str, key: str) -> tuple[int, int]:
    """``"3:11"`` -> ``(3, 11)``: 0-based, end exclusive."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", path)
    if not match:
        raise ConfigError(source, key, f"expected start:end character columns, got {path!r}")
    start, end = int(match.group(1)), int(match.group(2))
    if end <= start:
        raise ConfigError(source, key, f"end must be greater than start in {path!r}")
    return start, end


def parse_index(path: str, source: str, key: str) -> int:
    """``"2"`` -> ``2``: the 0-based position of a ``split`` field."""
    text = path.strip()
    if not text.isdigit():
        raise ConfigError(source, key, f"expected a 0-based field index, got {path!r}")
    return int(text)


def cut(text: str, start: int, end: int) -> str | None:
    """A fixed-width column, stripped; ``None`` when blank or beyond the record."""
    value = text[start:end].strip()
    return value or None


def parse_kv(text: str, delimiter: str) -> dict[str, str]:
    """``a=1|b=2`` -> ``{"a": "1", "b": "2"}``; the first occurrence of a key wins."""
    pairs: dict[str, str] = {}
    for part in text.split(delimiter):
        name, sep, value = part.partition("=")
        name = name.strip()
        if sep and name and name not in pairs:
            pairs[name] = value.strip()
    return pairs


def split_fields(text: str, delimiter: str) -> list[str]:
    """``OK|Gold|12.50`` -> ``["OK", "Gold", "12.50"]``, each stripped."""
    return [part.strip() for part in text.split(delimiter)]


class SocketParser:
    """The compiled ``parse`` rule, field paths and table patterns of one socket adapter."""

    def __init__(
        self,
        config: AdapterConfig,
        parse: str,
        pattern: str | None,
        delimiter: str,
        *,
        budget_s: float = DEFAULT_REGEX_BUDGET_S,
    ) -> None:
        source = config.id
        self.config = config
        self.parse = parse
        self.delimiter = delimiter
        self.pattern = BoundedPattern(pattern, source=source, key="pattern", budget_s=budget_s) if pattern else None
        self.columns: dict[str, tuple[int, int]] = {}
        self.indexes: dict[str, int] = {}
        for name, spec in config.fields.items():
            key = f"fields.{name}.path"
            if parse == "regex":
                assert self.pattern is not None  # SocketOptions requires a pattern for regex
                if spec.path not in self.pattern.groupindex:
                    raise ConfigError(source, key, f"no group named {spec.path!r} in pattern")
            elif parse == "fixed":
                self.columns[name] = parse_columns(spec.path, source, key)
            elif parse == "split":
                self.indexes[name] = parse_index(spec.path, source, key)
        self.tables: dict[str, tuple[BoundedPattern, dict[str, str]]] = {}
        for name, table in config.tables.items():
            row = BoundedPattern(table.path, source=source, key=f"tables.{name}.path", budget_s=budget_s)
            for column, group in table.columns.items():
                if group not in row.groupindex:
                    raise ConfigError(source, f"tables.{name}.columns.{column}", f"no group named {group!r} in path")
            self.tables[name] = (row, dict(table.columns))

    def extract(self, answer: str, context: LookupContext) -> Extracted:
        out = Extracted()
        fields = self.config.fields
        if fields:
            if self.parse == "regex":
                out.fields = self._regex_fields(answer, context)
            elif self.parse == "kv":
                pairs = parse_kv(answer, self.delimiter)
                out.fields = {name: pairs.get(spec.path) for name, spec in fields.items()}
            elif self.parse == "split":
                parts = split_fields(answer, self.delimiter)
                out.fields = {
                    name: parts[index] if index < len(parts) else None for name, index in self.indexes.items()
                }
            else:
                out.fields = {name: cut(answer, *self.columns[name]) for name in fields}
        for name, (row, columns) in self.tables.items():
            out.tables[name] = [
                {column: match.group(group) for column, group in columns.items()}
                for match in row.finditer(answer, context)
            ]
        return out

    def _regex_fields(self, answer: str, context: LookupContext) -> dict[str, str | None]:
        assert self.pattern is not None
        fields = self.config.fields
        match = self.pattern.search(answer, context)
        if match is not None:
            return {name: match.group(spec.path) for name, spec in fields.items()}
        if any(spec.required for spec in fields.values()):
            # The owner named what must be there: report it as layout drift, by label.
            return {name: None for name in fields}
        raise BackendProtocolError("answer does not match the pattern")
