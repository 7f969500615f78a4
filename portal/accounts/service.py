"""Account operations used by the login views, the API and the CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.models import ApiToken, Role, User
from portal.accounts.passwords import MIN_PASSWORD_LENGTH, passwords_for
from portal.accounts.tokens import display_prefix, new_token, token_hash
from portal.errors import RequestError, ResourceNotFound
from portal.rbac.policy import AccessPolicy, RoleGrant

TOKEN_USE_RESOLUTION = timedelta(minutes=1)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True, eq=False)
class Operator:
    """The signed-in operator as the engine sees them (no ORM, no Flask)."""

    id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    policy: AccessPolicy
    teams: tuple[str, ...] = ()
    region: str | None = None

    @property
    def permissions(self) -> frozenset[str]:
        return self.policy.permissions

    @classmethod
    def of(cls, user: User) -> Operator:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name or user.username,
            roles=tuple(user.role_names),
            policy=AccessPolicy([RoleGrant.from_data(role.name, role.permissions, role.field_grants,
                                                     role.content_rules) for role in user.roles]),
            teams=tuple(user.teams or ()),
            region=user.region,
        )


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def create_user(
    session: Session, username: str, password: str, roles: list[str], display_name: str = "",
    teams: list[str] | None = None,
) -> User:
    """Create an enabled operator with at least one existing role."""
    if not USERNAME.match(username):
        raise RequestError(f"username {username!r} must be 2-64 characters of a-z, 0-9, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RequestError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if not roles:
        raise RequestError("an operator needs at least one role")
    if find_user(session, username) is not None:
        raise RequestError(f"user {username!r} already exists")
    found = list(session.scalars(select(Role).where(Role.name.in_(roles))))
    missing = sorted(set(roles) - {role.name for role in found})
    if missing:
        raise RequestError(f"unknown role(s): {', '.join(missing)}")
    user = User(username=username, display_name=display_name, password_hash=passwords_for(session).hash(password),
                roles=found, teams=sorted(set(teams or ())))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The enabled user with this password, or None; always does the same work."""
    user = find_user(session, username)
    passwords = passwords_for(session)
    ok = passwords.verify(user.password_hash if user else None, password)
    if not (ok and user and user.enabled):
        return None
    if passwords.needs_rehash(user.password_hash or ""):
        user.password_hash = passwords.hash(password)
    user.last_login_at = clock.utcnow()
    return user


def issue_token(session: Session, username: str) -> tuple[User, str]:
    """A new personal API token for ``username``; the clear token is returned only here."""
    user = find_user(session, username)
    if user is None:
        raise ResourceNotFound(f"no user {username!r}")
    token = new_token()
    session.add(ApiToken(user=user, token_hash=token_hash(token), prefix=display_prefix(token)))
    session.flush()
    return user, token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or not row.user.enabled:
        return None
    now = clock.utcnow()
    # A write on every API call would queue every call behind the database's write lock;
    # "last used" to the minute is what people need.
    if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_RESOLUTION:
        row.last_used_at = now
    return row.user
