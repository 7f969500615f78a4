"""Role administration: permissions, field grants and content rules, validated at save and audited.

Built-in roles can be edited but not deleted; a role still held by operators
cannot be deleted; and no change may leave the portal without an enabled admin.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.admin import ensure_an_admin
from portal.accounts.models import Role, User
from portal.audit.record import Actor, Event, record
from portal.errors import Conflict, InvalidDocument, ResourceNotFound
from portal.rbac import permissions
from portal.rbac.rules import parse_content_rules, parse_field_grants

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,63}$")
PERMISSION = re.compile(r"^[a-z*][a-z0-9_*-]*(\.[a-z0-9_*-]+)*$")
KEYS = {"name", "description", "permissions", "field_grants", "content_rules"}

# The permission picker offers the registry's names; `system.<id>.view|open` may be added per adapter.
KNOWN_PERMISSIONS = permissions.names()


def role_document(role: Role) -> dict[str, Any]:
    return {
        "name": role.name,
        "description": role.description,
        "permissions": list(role.permissions),
        "field_grants": dict(role.field_grants or {}),
        "content_rules": list(role.content_rules or []),
        "builtin": role.builtin,
    }


def list_roles(session: Session) -> list[Role]:
    return list(session.scalars(select(Role).order_by(Role.name)))


def get_role(session: Session, name: str) -> Role:
    role = session.scalar(select(Role).where(Role.name == name))
    if role is None:
        raise ResourceNotFound(f"no role {name!r}")
    return role


def create(session: Session, actor: Actor, data: dict[str, Any]) -> Role:
    values = validate(data)
    if session.scalar(select(Role).where(Role.name == values["name"])) is not None:
        raise Conflict(f"role {values['name']!r} already exists")
    role = Role(builtin=False, **values)
    session.add(role)
    session.flush()
    record(session, actor, Event(action="role.create", target=role.name, details={"after": role_document(role)}))
    session.flush()
    return role


def update(session: Session, actor: Actor, name: str, data: dict[str, Any]) -> Role:
    role = get_role(session, name)
    values = validate({"name": name, **data})
    if values["name"] != name:
        raise InvalidDocument("name", f"must stay {name!r}")
    before = role_document(role)
    for key, value in values.items():
        setattr(role, key, value)
    session.flush()
    ensure_an_admin(session)
    record(session, actor, Event(action="role.update", target=name,
                                 details={"before": before, "after": role_document(role)}))
    session.flush()
    return role


def delete(session: Session, actor: Actor, name: str) -> None:
    role = get_role(session, name)
    if role.builtin:
        raise Conflict(f"{name!r} is a built-in role; edit it instead")
    holders = session.scalars(select(User.username).where(User.roles.contains(role))).all()
    if holders:
        raise Conflict(f"role {name!r} is held by {', '.join(sorted(holders)[:5])}; take it away from them first")
    before = role_document(role)
    session.delete(role)
    record(session, actor, Event(action="role.delete", target=name, details={"before": before}))
    session.flush()


def validate(data: Any) -> dict[str, Any]:
    """Every key checked; content rules parsed (never evaluated as code)."""
    if not isinstance(data, dict):
        raise InvalidDocument(None, "send a JSON object")
    unknown = sorted(set(data) - KEYS - {"builtin"})
    if unknown:
        raise InvalidDocument(unknown[0], "unknown key")
    name = data.get("name")
    if not isinstance(name, str) or not ROLE_NAME.match(name):
        raise InvalidDocument("name", "2-64 characters of a-z, 0-9, '_' or '-', starting with a letter")
    permissions = data.get("permissions", [])
    if not isinstance(permissions, list):
        raise InvalidDocument("permissions", "a list of permission names")
    for index, permission in enumerate(permissions):
        if not isinstance(permission, str) or not PERMISSION.match(permission):
            raise InvalidDocument(f"permissions[{index}]", f"{permission!r} is not a permission name")
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        raise InvalidDocument("description", "text of at most 500 characters")
    rules = parse_content_rules(data.get("content_rules", []))
    return {
        "name": name,
        "description": description,
        "permissions": sorted(set(permissions)),
        "field_grants": parse_field_grants(data.get("field_grants", {})),
        "content_rules": [rule.model_dump(exclude_none=True) for rule in rules],
    }
