"""Who may manage which registered adapter: admins every one, system owners those of their teams.

Shared by registration, the lifecycle, the test console and the credentials pages.
"""

from __future__ import annotations

from portal.accounts.service import Operator
from portal.errors import PermissionDenied
from portal.rbac.policy import permits

MANAGE_ALL = "adapters.manage"
MANAGE_OWN = "adapters.own"
APPROVE = "adapters.approve"
RAW = "adapters.raw"


def require_reader(operator: Operator) -> None:
    if not (permits(operator.permissions, MANAGE_ALL) or permits(operator.permissions, MANAGE_OWN)
            or permits(operator.permissions, APPROVE)):
        raise PermissionDenied("managing adapters needs adapters.manage, adapters.own or adapters.approve")


def owns(operator: Operator, owner: str | None) -> bool:
    """True when ``operator`` may change an adapter owned by ``owner``."""
    if permits(operator.permissions, MANAGE_ALL):
        return True
    return permits(operator.permissions, MANAGE_OWN) and owner is not None and (
        owner in operator.teams or owner == operator.username)


def require_owner(operator: Operator, owner: str | None, what: str = "manage adapters") -> None:
    if not owns(operator, owner):
        teams = ", ".join(operator.teams) or "none"
        raise PermissionDenied(f"you may only {what} owned by your teams ({teams}), not {owner!r}")
