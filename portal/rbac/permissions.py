"""Every permission the portal knows: its name, what it allows, and which built-in roles hold it.

The one list. Route guards (:func:`portal.rbac.decorators.require`) refuse a name
that is not here when the module is imported; the role editor offers these
names with their descriptions; the permission-matrix tests compare the built-in
roles a fresh database gets with :func:`builtin_grants`. (Migrations keep their
own copy on purpose: a migration must not change when application code does.)

``system.*.view`` and ``system.*.open`` stand for one permission per system
(``system.boss.view``); roles may name either form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    name: str
    description: str
    roles: tuple[str, ...] = ()  # the built-in roles that hold it


PERMISSIONS: tuple[Permission, ...] = (
    Permission("customer.lookup", "Look customers up in the combined view", ("agent", "supervisor")),
    Permission("customer.reveal", "Reveal one masked value (audited)", ("supervisor",)),
    Permission("system.*.view", "See each system's panel (system.<id>.view for one system)", ("agent", "supervisor")),
    Permission("system.*.open", "Open each system's quick channel (system.<id>.open for one system)",
               ("agent", "supervisor")),
    Permission("users.manage", "Manage operators: create, disable, reset passwords, end sessions", ("admin",)),
    Permission("roles.manage", "Manage roles: permissions, field grants, content rules", ("admin",)),
    Permission("adapters.manage", "Manage every registered adapter and system credential", ("admin",)),
    Permission("adapters.own", "Manage the adapters and credentials of one's own teams' systems", ("system_owner",)),
    Permission("adapters.approve", "Approve adapter versions written by others (four-eyes rule)", ("admin",)),
    Permission("adapters.raw", "See adapters' raw, unmasked answers in the test console (each view audited)"),
    Permission("audit.read", "Read the operation log and verify its chain", ("auditor",)),
    Permission("audit.export", "Export the operation log", ("auditor",)),
    Permission("stats.read", "Read operation statistics", ("admin", "auditor")),
    Permission("monitor.read", "See the systems' health and the portal's own", ("admin", "system_owner")),
    Permission("monitor.manage", "Open and cancel maintenance windows for any system", ("admin",)),
)

BY_NAME: dict[str, Permission] = {permission.name: permission for permission in PERMISSIONS}
_PER_SYSTEM = re.compile(r"^system\.[a-z][a-z0-9_-]{1,31}\.(view|open)$")


def names() -> tuple[str, ...]:
    return tuple(BY_NAME)


def is_known(name: str) -> bool:
    """A registered name, or the per-system form of ``system.*.view``/``system.*.open``."""
    return name in BY_NAME or bool(_PER_SYSTEM.match(name))


def builtin_grants() -> dict[str, set[str]]:
    """Built-in role -> the permissions it holds on a fresh installation."""
    grants: dict[str, set[str]] = {}
    for permission in PERMISSIONS:
        for role in permission.roles:
            grants.setdefault(role, set()).add(permission.name)
    return grants
