"""What an owner's XPath may call and name, checked before it ever runs.

lxml compiles an XPath without looking at the functions and prefixes it uses;
it finds out when a step is evaluated — and a predicate is evaluated only on
nodes that exist. ``//td[re:test(., '(a|aa)+$')]`` therefore compiles, passes a
probe on an empty document, and fails (or, with EXSLT enabled, runs a
catastrophic regular expression without a time limit) on the first real page.
So the expression's text is checked: only XPath 1.0's own functions (no
extension functions: EXSLT ``re:``, ``str:``, ``dyn:``...), no variables, and
only namespace prefixes the document declares.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: XPath 1.0's core function library, and the node tests that look like calls.
CORE_FUNCTIONS = frozenset({
    "last", "position", "count", "id", "local-name", "namespace-uri", "name",
    "string", "concat", "starts-with", "contains", "substring-before", "substring-after", "substring",
    "string-length", "normalize-space", "translate",
    "boolean", "not", "true", "false", "lang",
    "number", "sum", "floor", "ceiling", "round",
    "node", "text", "comment", "processing-instruction",
})  # fmt: skip
_OPERATORS = frozenset({"and", "or", "div", "mod"})

_LITERAL = re.compile(r"\"[^\"]*\"|'[^']*'")
_NAME = r"[A-Za-z_][\w.-]*"
# A name (optionally prefixed) followed by "(": a function call or a node test. Not after "::"
# (axis::node()) nor inside another name ("-" and "." are name characters, but a scan that starts at
# a name consumes it whole, so "1 -foo()" is still seen as a call of foo).
_CALL = re.compile(rf"(?<![\w:])((?:{_NAME}:)?{_NAME})\s*\(")
# prefix:name or prefix:* — but not the "::" of an axis.
_PREFIX = re.compile(rf"(?<![\w:])({_NAME}):(?=[A-Za-z_*])")


def check_expression(expression: str, namespaces: Mapping[str, str] | None = None) -> None:
    """:class:`ValueError` naming the first function or prefix ``expression`` may not use."""
    text = _LITERAL.sub("''", expression)  # what is inside quotes is data, not calls
    declared = {"xml", *(namespaces or {})}  # "xml" is bound in every XPath
    if "$" in text:
        raise ValueError("variables ($name) are not available in adapter paths")
    for match in _CALL.finditer(text):
        name = match.group(1)
        if ":" in name:
            raise ValueError(f"extension function {name}() is not allowed; use XPath 1.0 functions")
        if name not in CORE_FUNCTIONS and name not in _OPERATORS:
            raise ValueError(f"unknown function {name}(); XPath 1.0 functions only")
    for match in _PREFIX.finditer(text):
        prefix = match.group(1)
        if prefix not in declared:
            raise ValueError(f"undefined namespace prefix {prefix!r}; declare it in namespaces")
