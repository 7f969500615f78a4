"""Signing in through an identity provider, as engine functions: claims in, an operator out.

The web layer (:mod:`portal.sso.oidc`, Authlib's Flask client) runs the OpenID Connect code flow
and hands the verified ID token's claims here; this module knows nothing of Flask, HTTP or
Authlib. It takes a database session and the claims and decides:

1. **who** — the operator linked to the provider's ``sub`` (:class:`~portal.sso.models.ExternalIdentity`);
   else, where ``link_by_username``, the operator of the same username (never a break-glass account);
   else, where ``create_users``, a new operator (just in time) with the mapped roles;
2. **roles** — the groups claim mapped through ``role_map``; with ``sync_roles`` they replace the
   operator's roles at each sign-in;
3. **whether** — a disabled operator, or one left without a role, is refused;
4. **what next** — the link is stamped (claims, time) and the caller learns whether a second factor
   is still needed.

Every refusal raises :class:`SignInRefused` and is audited as ``auth.login_failed`` with the reason;
the audit record is written when the unit of work ends, even though the sign-in itself rolls back
(:func:`portal.audit.record.record_refusal`). Nothing here commits: the functions flush, and the
edge (the request's unit of work in :mod:`portal.db`) commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.models import Role, User
from portal.accounts.service import USERNAME, find_user
from portal.audit.record import Actor, Event, record, record_refusal
from portal.errors import AuthenticationRequired, ConfigError
from portal.sso.models import ExternalIdentity

#: Claim values kept on the link (for admins to see what the provider said); others are dropped.
KEPT_CLAIM_TYPES = (str, int, float, bool, list)


class SignInRefused(AuthenticationRequired):
    """A sign-in through an identity provider was refused (audited as ``auth.login_failed``)."""

    code = "sign_in_refused"
    title = "Sign-in refused"

    def __init__(self, provider: str, who: str, reason: str) -> None:
        self.provider = provider
        self.who = who
        self.reason = reason
        super().__init__("Sign-in through the identity provider did not succeed.")

    def extras(self) -> dict[str, Any]:
        return {"reason": self.reason}


@dataclass(frozen=True)
class ProviderRules:
    """What one provider's settings (an ``oidc_providers`` entry) decide about its users."""

    name: str
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    role_map: Mapping[str, str] = field(default_factory=dict)
    create_users: bool = False
    sync_roles: bool = True
    link_by_username: bool = False
    skip_mfa: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProviderRules:
        return cls(
            name=str(config["name"]),
            username_claim=str(config.get("username_claim") or cls.username_claim),
            groups_claim=str(config.get("groups_claim") or cls.groups_claim),
            role_map=dict(config.get("role_map") or {}),
            create_users=bool(config.get("create_users", False)),
            sync_roles=bool(config.get("sync_roles", True)),
            link_by_username=bool(config.get("link_by_username", False)),
            skip_mfa=bool(config.get("skip_mfa", False)),
        )

    @property
    def method(self) -> str:
        """How the audit log names this way of signing in: ``oidc:<provider>``."""
        return f"oidc:{self.name}"

    def username(self, claims: Mapping[str, Any]) -> str:
        return str(claims.get(self.username_claim) or "").strip().lower()

    def roles(self, claims: Mapping[str, Any]) -> list[str]:
        """The portal roles the groups claim maps to (sorted, no duplicates)."""
        groups = claims.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        return sorted({self.role_map[g] for g in groups if isinstance(g, str) and g in self.role_map})


@dataclass(frozen=True)
class SignIn:
    """A sign-in that may go on: the operator, and whether a second factor is still to be asked."""

    user: User
    method: str
    needs_second_factor: bool


def sign_in(session: Session, rules: ProviderRules, claims: Mapping[str, Any], *,
            break_glass_users: Collection[str] = (), second_factor_roles: Collection[str] = (),
            client_addr: str | None = None) -> SignIn:
    """The operator the verified ``claims`` stand for, found, linked or created, with roles synced.

    Raises :class:`SignInRefused` (audited) when the claims may not sign in. Flushes; the caller's
    unit of work commits (or, after a refusal, rolls back and keeps the audit record).
    """
    subject = str(claims.get("sub") or "")
    if not subject:
        raise refuse(session, rules.name, "-", "no_subject", client_addr)
    username = rules.username(claims)
    roles = rules.roles(claims)

    identity = session.scalar(select(ExternalIdentity).where(ExternalIdentity.provider == rules.name,
                                                             ExternalIdentity.subject == subject))
    user = session.get(User, identity.user_id) if identity else None
    if user is None and username and rules.link_by_username:
        user = find_user(session, username)
        if user is not None and user.username in break_glass_users:
            raise refuse(session, rules.name, username, "break_glass_account", client_addr)  # they stay local
    if user is None:
        user = provision(session, rules, claims, username, roles, client_addr=client_addr)
    elif rules.sync_roles and roles:
        user.roles = role_rows(session, roles)
    if not user.enabled:
        raise refuse(session, rules.name, user.username, "disabled", client_addr)
    if not user.roles:
        raise refuse(session, rules.name, user.username, "no_role", client_addr)
    if identity is None:
        identity = ExternalIdentity(provider=rules.name, subject=subject, user_id=user.id)
        session.add(identity)
    identity.claims = {k: v for k, v in claims.items() if isinstance(v, KEPT_CLAIM_TYPES)}
    identity.last_login_at = clock.now()
    session.flush()
    needs_second_factor = bool(set(second_factor_roles).intersection(user.role_names)) and not rules.skip_mfa
    return SignIn(user, rules.method, needs_second_factor)


def provision(session: Session, rules: ProviderRules, claims: Mapping[str, Any], username: str,
              roles: list[str], *, client_addr: str | None = None) -> User:
    """A new operator for an account the portal does not know yet (``create_users``); audited."""
    who = username or str(claims.get("sub") or "-")
    if not rules.create_users:
        raise refuse(session, rules.name, who, "no_account", client_addr)
    if not USERNAME.match(username):
        raise refuse(session, rules.name, who, "bad_username", client_addr)
    if not roles:
        raise refuse(session, rules.name, username, "no_mapped_role", client_addr)
    if find_user(session, username) is not None:
        raise refuse(session, rules.name, username, "username_taken", client_addr)  # a local operator, not linked
    user = User(username=username, display_name=str(claims.get("name") or ""), teams=[], enabled=True,
                roles=role_rows(session, roles))
    session.add(user)
    session.flush()
    record(session, Actor(rules.method, client_addr=client_addr),
           Event(action="user.create", target=username, details={"provider": rules.name, "roles": roles,
                                                                  "jit": True}))
    return user


def role_rows(session: Session, names: list[str]) -> list[Role]:
    """The roles named by a provider's ``role_map``; a name the portal does not have is a configuration error."""
    found = list(session.scalars(select(Role).where(Role.name.in_(names))))
    if len(found) != len(set(names)):
        missing = sorted(set(names) - {r.name for r in found})
        raise ConfigError("settings", "oidc_providers.role_map", f"unknown role(s): {', '.join(missing)}")
    return found


def refuse(session: Session, provider: str, who: str, reason: str, client_addr: str | None = None) -> SignInRefused:
    """Audit a refused sign-in (kept even though the unit of work rolls back); the exception to raise."""
    who = str(who)
    record_refusal(session, Actor(who[:64], client_addr=client_addr),
                   Event(action="auth.login_failed", outcome="failure", target=who[:200],
                         details={"method": f"oidc:{provider}", "reason": reason}))
    return SignInRefused(provider, who, reason)
