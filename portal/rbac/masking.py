"""Masking of sensitive field values (``keep_last:4`` and friends).

The grammar is :mod:`portal.adapters.masks`, shared with the adapter document's
validation, so a rule that registered is a rule this module can apply.
"""

from __future__ import annotations

from portal.adapters.masks import EXPECTED, MASK_CHAR, parse_mask
from portal.errors import ConfigError

__all__ = ["MASK_CHAR", "apply_mask"]


def apply_mask(value: str | None, rule: str) -> str | None:
    """Mask ``value`` by ``rule``: ``keep_last:N``, ``keep_first:N`` or ``all``."""
    if value is None:
        return None
    try:
        mask = parse_mask(rule)
    except ValueError:
        # Documents are checked when they load; this is only reached by a rule from elsewhere.
        raise ConfigError("mask", rule, EXPECTED) from None
    return mask.apply(value)
