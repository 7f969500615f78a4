"""Customer numbers as agents type them: spaces and dashes allowed, checked against one pattern.

The one number policy (``customer_number_pattern``) of the lookup, the owners' test console and
whoever else takes a customer number; it depends on nothing but :mod:`portal.errors`.
"""

from __future__ import annotations

import re

from portal.errors import InvalidCustomerNumber

_SEPARATORS = re.compile(r"[\s-]+")


class NumberPolicy:
    """Normalises and validates customer numbers against the configured pattern."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def normalise(self, typed: str) -> str:
        number = _SEPARATORS.sub("", typed or "")
        if not self.pattern.fullmatch(number):
            shown = typed if len(typed or "") <= 40 else typed[:40] + "…"
            raise InvalidCustomerNumber(
                f"{shown!r} is not a customer number (expected something like 13800000000)"
            )
        return number
