"""Who hears about a system: members of ``alerts_roles``, the system's owners, the extra addresses."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.config import Settings
from portal.monitor.systems import SystemInfo
from portal.rbac.policy import permits

OWNER_PERMISSIONS = ("adapters.own", "adapters.manage")


def recipients(session: Session, settings: Settings, info: SystemInfo) -> dict[str, list[str]]:
    """channel -> addresses: members of ``alerts_roles``, the system's owners, the extra addresses.

    Owners are enabled operators whose teams include the system's owner (or who are it) and who
    may own or manage adapters. No e-mail, no mail; no phone, no SMS; each address once.
    """
    people = [user for user in session.scalars(select(User).where(User.enabled.is_(True)).order_by(User.username))
              if set(user.role_names) & set(settings.alerts_roles) or _owns(user, info.owner)]
    emails = _unique([u.email for u in people] + list(settings.alerts_extra_emails), _email_key)
    phones = _unique([u.phone for u in people] + list(settings.alerts_extra_phones), _phone_key)
    return {"email": emails, "sms": [_phone_key(p) for p in phones]}


def _owns(user: User, owner: str | None) -> bool:
    if not owner or not (owner in (user.teams or ()) or owner == user.username):
        return False
    return any(permits(user.permissions, wanted) for wanted in OWNER_PERMISSIONS)


def _email_key(address: str) -> str:
    return address.strip().lower()


def _phone_key(number: str) -> str:
    return re.sub(r"[\s().-]", "", number.strip())


def _unique(values: Iterable[str | None], key) -> list[str]:
    seen: set[str] = set()
    found = []
    for value in values:
        if not value or not value.strip() or key(value) in seen:
            continue
        seen.add(key(value))
        found.append(value.strip())
    return found
