"""The mask grammar of ``fields.<name>.mask`` (``keep_last:4``, ``keep_first:1``, ``all``).

One parser for both sides: the adapter document is checked with it when it is
registered (:class:`portal.adapters.config.FieldSpec`), and the access layer
(:mod:`portal.rbac.masking`) applies the same rule at lookup time. A document
that loads therefore never carries a mask the lookup cannot apply. It lives
with the adapters because adapters import nothing from ``portal.rbac``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

MASK_CHAR = "•"
#: What an unreadable rule is told; the same words at registration and (never, now) at lookup.
EXPECTED = "expected keep_last:N, keep_first:N or all"
# ASCII digits only: str.isdigit() accepts "²", which int() then refuses.
_RULE = re.compile(r"(?P<kind>keep_last|keep_first):(?P<keep>[0-9]{1,4})|(?P<all>all)")


@dataclass(frozen=True)
class MaskRule:
    """A parsed mask: how many characters stay readable, and at which end."""

    kind: Literal["all", "keep_last", "keep_first"]
    keep: int = 0

    def apply(self, value: str) -> str:
        if self.kind == "all":
            return MASK_CHAR * min(len(value), 8)  # the length of a secret is a secret too
        # Never show more than half: "keep_last:4" on a 5-character value must still hide something.
        keep = min(self.keep, len(value) // 2)
        hidden = MASK_CHAR * (len(value) - keep)
        return hidden + value[len(value) - keep:] if self.kind == "keep_last" else value[:keep] + hidden


@lru_cache(maxsize=256)  # a handful of rules, applied on every masked lookup
def parse_mask(rule: str) -> MaskRule:
    """``"keep_last:4"`` -> ``MaskRule("keep_last", 4)``; :class:`ValueError` (:data:`EXPECTED`) otherwise."""
    match = _RULE.fullmatch(rule) if isinstance(rule, str) else None
    if match is None:
        raise ValueError(EXPECTED)
    if match.group("all"):
        return MaskRule("all")
    return MaskRule(match.group("kind"), int(match.group("keep")))  # type: ignore[arg-type]


def apply_mask(value: str | None, rule: str) -> str | None:
    """Mask ``value`` by ``rule``; ``None`` stays ``None``."""
    if value is None:
        return None
    return parse_mask(rule).apply(value)
