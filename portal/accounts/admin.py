"""Operator administration: create, change, disable, delete, reset passwords, end sessions.

Every change is audited with before and after, in the same transaction. The last
enabled administrator (an operator whose roles grant ``users.manage``) cannot be
removed, disabled or demoted, so the portal can never lock its admins out.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import Role, User
from portal.accounts.passwords import MIN_PASSWORD_LENGTH, passwords_for
from portal.accounts.service import USERNAME, find_user
from portal.audit.record import Actor, Event, record
from portal.errors import Conflict, InvalidDocument, ResourceNotFound
from portal.rbac.policy import permits

ADMIN_PERMISSION = "users.manage"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 -]{2,30}$")
EDITABLE = ("display_name", "email", "phone", "region", "roles", "teams", "enabled")


def user_document(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "phone": user.phone,
        "region": user.region,
        "roles": user.role_names,
        "teams": list(user.teams or []),
        "enabled": user.enabled,
        "has_password": user.password_hash is not None,
        "created_at": user.created_at.isoformat() if user.created_at else None,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise ResourceNotFound(f"no operator {username!r}")
    return user


def create(session: Session, actor: Actor, data: dict[str, Any]) -> User:
    _only_known(data, {"username", "password", *EDITABLE})
    username = data.get("username")
    if not isinstance(username, str):  # str(None) would be the operator "none"
        raise InvalidDocument("username", "required: 2-64 characters of a-z, 0-9, '.', '_' or '-'")
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise InvalidDocument("username", "2-64 characters of a-z, 0-9, '.', '_' or '-'")
    if find_user(session, username) is not None:
        raise Conflict(f"operator {username!r} already exists")
    user = User(username=username, display_name="", teams=[], enabled=True)
    _apply(session, user, {k: v for k, v in data.items() if k in EDITABLE})
    if data.get("password"):
        user.password_hash = _hashed(session, data["password"])
    session.add(user)
    session.flush()
    record(session, actor, Event(action="user.create", target=username, details={"after": user_document(user)}))
    session.flush()
    return user


def update(session: Session, actor: Actor, username: str, data: dict[str, Any]) -> User:
    _only_known(data, set(EDITABLE))
    user = get_user(session, username)
    before = user_document(user)
    _apply(session, user, data)
    session.flush()
    ensure_an_admin(session)
    if not user.enabled and before["enabled"]:
        user.session_epoch += 1  # a disabled operator's open sessions end now
    record(session, actor, Event(action="user.update", target=username,
                                 details={"before": before, "after": user_document(user)}))
    session.flush()
    return user


def delete(session: Session, actor: Actor, username: str) -> None:
    user = get_user(session, username)
    before = user_document(user)
    session.delete(user)
    session.flush()
    ensure_an_admin(session)
    record(session, actor, Event(action="user.delete", target=username, details={"before": before}))
    session.flush()


def reset_password(session: Session, actor: Actor, username: str, password: str) -> None:
    user = get_user(session, username)
    user.password_hash = _hashed(session, password)
    user.session_epoch += 1  # whoever knew the old password is signed out
    record(session, actor, Event(action="user.password_reset", target=username))
    session.flush()


def end_sessions(session: Session, actor: Actor, username: str) -> None:
    user = get_user(session, username)
    user.session_epoch += 1
    record(session, actor, Event(action="user.sessions_end", target=username))
    session.flush()


def enabled_admins(session: Session) -> list[str]:
    return [user.username for user in session.scalars(select(User).where(User.enabled.is_(True)))
            if permits(user.permissions, ADMIN_PERMISSION)]


def ensure_an_admin(session: Session) -> None:
    """Refuse a change that leaves no enabled administrator (the caller's unit of work rolls it back)."""
    if not enabled_admins(session):
        raise Conflict("this would leave no enabled administrator; make another operator an admin first")


def _apply(session: Session, user: User, data: dict[str, Any]) -> None:
    if "display_name" in data:
        user.display_name = _text(data, "display_name", 200)
    if "email" in data:
        email = _text(data, "email", 254) or None
        if email and not EMAIL.match(email):
            raise InvalidDocument("email", f"{email!r} is not an e-mail address")
        user.email = email
    if "phone" in data:
        phone = _text(data, "phone", 32) or None
        if phone and not PHONE.match(phone):
            raise InvalidDocument("phone", f"{phone!r} is not a phone number")
        user.phone = phone
    if "region" in data:
        user.region = _text(data, "region", 64) or None
    if "teams" in data:
        teams = data["teams"]
        if not isinstance(teams, list) or not all(isinstance(t, str) and t.strip() for t in teams):
            raise InvalidDocument("teams", "a list of team names")
        user.teams = sorted({t.strip() for t in teams})
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise InvalidDocument("enabled", "true or false")
        user.enabled = data["enabled"]
    if "roles" in data:
        names = data["roles"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidDocument("roles", "a list of role names")
        found = list(session.scalars(select(Role).where(Role.name.in_(names))))
        missing = sorted(set(names) - {role.name for role in found})
        if missing:
            raise InvalidDocument("roles", f"unknown role(s): {', '.join(missing)}")
        user.roles = found
    if user.enabled and not user.roles:
        raise InvalidDocument("roles", "an enabled operator needs at least one role")


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidDocument(key, f"text of at most {limit} characters")
    return value.strip()


def _hashed(session: Session, password: Any) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidDocument("password", f"at least {MIN_PASSWORD_LENGTH} characters")
    return passwords_for(session).hash(password)


def _only_known(data: Any, allowed: set[str]) -> None:
    if not isinstance(data, dict):
        raise InvalidDocument(None, "send a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidDocument(unknown[0], "unknown key")
