"""The one policy engine: function, field and content layers (DESIGN §4).

Pure data in, decisions out: no Flask, no database. Every decision says which
rule made it, so the admins' "explain" view and the audit log can show why.

An operator's roles combine by union: a permission, a field or a record is
visible when any of the operator's roles makes it so. Field grants and content
rules are taken from the roles that grant ``customer.lookup`` (the roles an
operator looks customers up with); an admin role does not widen an agent's data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from portal.rbac.rules import ACTIONS, CustomerRule, RecordRule, parse_content_rules

LOOKUP = "customer.lookup"


def permits(granted: Iterable[str], wanted: str) -> bool:
    """True when one granted permission covers ``wanted`` (``system.*.view`` covers ``system.boss.view``)."""
    wanted_parts = wanted.split(".")
    for grant in granted:
        parts = grant.split(".")
        if len(parts) == len(wanted_parts) and all(
            fnmatchcase(have, pattern) for pattern, have in zip(parts, wanted_parts, strict=True)
        ):
            return True
    return False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    because: str
    action: str = "show"  # for field decisions: show | mask | hide


@dataclass(frozen=True)
class RoleGrant:
    """What one role grants, in the shape the engine needs."""

    name: str
    permissions: frozenset[str]
    field_grants: Mapping[str, str]
    customer_rules: tuple[CustomerRule, ...] = ()
    record_rules: tuple[RecordRule, ...] = ()

    @classmethod
    def from_data(cls, name: str, permissions: Iterable[str], field_grants: Mapping[str, str] | None,
                  content_rules: Any) -> RoleGrant:
        rules = parse_content_rules(content_rules)
        return cls(
            name=name,
            permissions=frozenset(permissions),
            field_grants=dict(field_grants or {}),
            customer_rules=tuple(r for r in rules if isinstance(r, CustomerRule)),
            record_rules=tuple(r for r in rules if isinstance(r, RecordRule)),
        )

    def field_action(self, sensitivity: str) -> tuple[str, str]:
        if sensitivity in self.field_grants:
            return self.field_grants[sensitivity], f"role {self.name}: {sensitivity} = {self.field_grants[sensitivity]}"
        if "*" in self.field_grants:
            return self.field_grants["*"], f"role {self.name}: * = {self.field_grants['*']}"
        return "hide", f"role {self.name}: no grant for {sensitivity}"

    def customer(self, number: str) -> Decision:
        if not self.customer_rules:
            return Decision(True, f"role {self.name}: no customer rules")
        for rule in self.customer_rules:
            for pattern in rule.patterns:
                if fnmatchcase(number, pattern):
                    return Decision(True, f"role {self.name}: customers {pattern}")
        patterns = ", ".join(p for r in self.customer_rules for p in r.patterns)
        return Decision(False, f"role {self.name}: only customers {patterns}")

    def records(self, system_id: str, table: str | None, values: Mapping[str, Any]) -> Decision:
        applicable = [r for r in self.record_rules if r.applies_to(system_id, table)]
        for rule in applicable:
            if rule.effect == "deny" and rule.matches(values):
                return Decision(False, f"role {self.name}: deny {_describe(rule)}")
        allows = [r for r in applicable if r.effect == "allow"]
        if allows:
            for rule in allows:
                if rule.matches(values):
                    return Decision(True, f"role {self.name}: allow {_describe(rule)}")
            return Decision(False, f"role {self.name}: no allow rule matched")
        return Decision(True, f"role {self.name}: no rule")


class AccessPolicy:
    """The combined grants of one operator's roles."""

    def __init__(self, roles: Sequence[RoleGrant]) -> None:
        self.roles = tuple(roles)
        self.permissions = frozenset(p for role in self.roles for p in role.permissions)
        self._data_roles = tuple(role for role in self.roles if permits(role.permissions, LOOKUP))

    def permits(self, permission: str) -> bool:
        return permits(self.permissions, permission)

    @property
    def looks_up(self) -> bool:
        """True when some role grants customer lookups (and so field grants and content rules apply)."""
        return bool(self._data_roles)

    def field(self, sensitivity: str) -> Decision:
        """The most permissive of the lookup roles' grants for this sensitivity class."""
        grants = [role.field_action(sensitivity) for role in self._data_roles]
        if not grants:
            return Decision(False, "no role grants customer lookups", action="hide")
        action, because = max(grants, key=lambda grant: ACTIONS.index(grant[0]))
        return Decision(action != "hide", because, action=action)

    def customer(self, number: str) -> Decision:
        return self._any(lambda role: role.customer(number), "no role grants customer lookups")

    def system(self, system_id: str, fields: Mapping[str, Any]) -> Decision:
        return self._any(lambda role: role.records(system_id, None, fields), "no role grants customer lookups")

    def row(self, system_id: str, table: str, row: Mapping[str, Any]) -> Decision:
        return self._any(lambda role: role.records(system_id, table, row), "no role grants customer lookups")

    def _any(self, decide: Callable[[RoleGrant], Decision], nobody: str) -> Decision:
        denials: list[str] = []
        for role in self._data_roles:
            decision = decide(role)
            if decision.allowed:
                return decision
            denials.append(decision.because)
        return Decision(False, "; ".join(denials) or nobody)


def _describe(rule: RecordRule) -> str:
    where = f"{rule.system}.{rule.table}" if rule.table else rule.system
    value = "" if rule.value is None else f" {rule.value!r}"
    return f"{where} where {rule.field} {rule.op}{value}"
