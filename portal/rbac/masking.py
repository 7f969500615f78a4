"""Masking of sensitive field values (``keep_last:4`` and friends)."""

from __future__ import annotations

from portal.errors import ConfigError

MASK_CHAR = "•"


def apply_mask(value: str | None, rule: str) -> str | None:
    """Mask ``value`` by ``rule``: ``keep_last:N``, ``keep_first:N`` or ``all``."""
    if value is None:
        return None
    name, _, arg = rule.partition(":")
    if name == "all":
        return MASK_CHAR * min(len(value), 8)
    if name in ("keep_last", "keep_first") and arg.isdigit():
        keep = min(int(arg), len(value) // 2)
        hidden = MASK_CHAR * (len(value) - keep)
        return hidden + value[len(value) - keep:] if name == "keep_last" else value[:keep] + hidden
    raise ConfigError("mask", rule, "expected keep_last:N, keep_first:N or all")
