"""XPath/CSS extraction shared by the ``html`` and ``xml`` kinds.

Paths are compiled once, when the adapter is built, so a typo in a TOML file is
a :class:`ConfigError` at load time (naming ``fields.<name>.path``) and not a
failed panel at three in the morning. Every compiled path is also evaluated once
against an empty element: that catches what lxml only notices at run time, such
as an undeclared namespace prefix.

Values follow the adapter spec: a string, or ``None`` when the path matches
nothing. Whitespace is collapsed ("  Gold\\n  plan " -> "Gold plan") because
what agents read is text, not markup layout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cssselect import HTMLTranslator, SelectorError
from lxml import etree

from portal.adapters.base import Extracted
from portal.adapters.config import AdapterConfig
from portal.adapters.xpathcheck import check_expression
from portal.errors import BackendProtocolError, ConfigError

CSS_PREFIX = "css:"


def normalise_space(text: str) -> str:
    return " ".join(text.split())


def compile_path(
    path: str,
    *,
    source: str,
    key: str,
    namespaces: Mapping[str, str] | None = None,
    allow_css: bool = False,
    selects_rows: bool = False,
) -> etree.XPath:
    """Compile an XPath 1.0 expression (or ``css:<selector>`` when allowed).

    EXSLT regular expressions (``re:test``, ``re:match``) are not available: lxml
    runs them with Python's ``re``, without any time limit, so one catastrophic
    pattern in a path would hold a lookup thread (and the interpreter) for as long
    as it likes. Nor is any other extension function, a variable or an undeclared
    prefix (:mod:`portal.adapters.xpathcheck`). ``selects_rows``: the path must
    select elements (a table's rows), not compute a number, string or boolean.
    """
    expression = path
    if path.startswith(CSS_PREFIX):
        if not allow_css:
            raise ConfigError(source, key, "CSS selectors are only supported by the html kind")
        selector = path[len(CSS_PREFIX):].strip()
        if not selector:
            raise ConfigError(source, key, "empty CSS selector")
        try:
            # descendant-or-self:: searches below the context node: the document
            # root for fields and table rows, the row for columns.
            expression = HTMLTranslator().css_to_xpath(selector, prefix="descendant-or-self::")
        except SelectorError as exc:
            raise ConfigError(source, key, f"invalid CSS selector: {exc}") from exc
    else:
        try:
            # Predicates run only on nodes that exist: the probe below cannot see what they call.
            check_expression(expression, namespaces)
        except ValueError as exc:
            raise ConfigError(source, key, f"invalid XPath: {exc}") from exc
    try:
        compiled = etree.XPath(expression, namespaces=dict(namespaces or {}), smart_strings=False, regexp=False)
        probed = compiled(etree.Element("probe"))  # surfaces undefined prefixes and functions now
    except (etree.XPathSyntaxError, etree.XPathEvalError) as exc:
        raise ConfigError(source, key, f"invalid XPath: {exc}") from exc
    if selects_rows and not isinstance(probed, list):
        what = {bool: "a boolean", float: "a number", str: "a string"}.get(type(probed), type(probed).__name__)
        raise ConfigError(source, key, f"must select the rows (elements), but computes {what}")
    return compiled


def first_text(result: Any) -> str | None:
    """The XPath string value of an evaluation result, ``None`` for an empty node-set."""
    if isinstance(result, list):
        if not result:
            return None
        result = result[0]
    if result is None:
        return None
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        if math.isnan(result):  # string() of nothing numeric
            return None
        return str(int(result)) if result.is_integer() else repr(result)
    if isinstance(result, etree._Element):
        if isinstance(result, etree._Comment | etree._ProcessingInstruction):
            return None
        return normalise_space("".join(result.itertext()))
    return normalise_space(str(result))


def matches(result: Any) -> bool:
    """XPath truth: a non-empty node-set, a true boolean, a non-empty string, a non-zero number."""
    if isinstance(result, list):
        return bool(result)
    if isinstance(result, float):
        return not math.isnan(result) and result != 0
    return bool(result)


@dataclass(frozen=True)
class _Table:
    rows: etree.XPath
    columns: dict[str, etree.XPath]


class XPathExtractor:
    """The compiled field and table paths of one adapter."""

    def __init__(
        self,
        config: AdapterConfig,
        *,
        namespaces: Mapping[str, str] | None = None,
        allow_css: bool = False,
    ) -> None:
        source = config.id

        def build(path: str, key: str, selects_rows: bool = False) -> etree.XPath:
            return compile_path(
                path, source=source, key=key, namespaces=namespaces, allow_css=allow_css, selects_rows=selects_rows
            )

        self.fields = {name: build(spec.path, f"fields.{name}.path") for name, spec in config.fields.items()}
        self.tables = {
            name: _Table(
                rows=build(spec.path, f"tables.{name}.path", selects_rows=True),
                columns={
                    column: build(path, f"tables.{name}.columns.{column}")
                    for column, path in spec.columns.items()
                },
            )
            for name, spec in config.tables.items()
        }

    def extract(self, root: etree._Element) -> Extracted:
        out = Extracted()
        try:
            for name, path in self.fields.items():
                out.fields[name] = first_text(path(root))
            for name, table in self.tables.items():
                rows = table.rows(root)
                if not isinstance(rows, list):
                    raise BackendProtocolError(f"table {name!r}: path does not select rows")
                out.tables[name] = [
                    {column: first_text(path(row)) for column, path in table.columns.items()}
                    for row in rows
                    if isinstance(row, etree._Element)
                ]
        except etree.XPathEvalError as exc:  # pragma: no cover - compile_path probes for these
            raise BackendProtocolError(f"path could not be evaluated: {exc}") from exc
        return out
