"""Permission checks: dotted names, ``*`` matching one whole segment or part of one."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase


def permits(granted: Iterable[str], wanted: str) -> bool:
    """True when one granted permission covers ``wanted`` (``system.*.view`` covers ``system.boss.view``)."""
    wanted_parts = wanted.split(".")
    for grant in granted:
        parts = grant.split(".")
        if len(parts) == len(wanted_parts) and all(
            fnmatchcase(have, pattern) for pattern, have in zip(parts, wanted_parts)
        ):
            return True
    return False
