"""Sign-in through OpenID Connect identity providers, with Authlib's Flask client.

Authorization code flow with PKCE (S256), endpoints from each provider's discovery
document, ``state`` and ``nonce`` kept in the (server-side) session and checked by
Authlib on the way back. Several providers can be configured (``oidc_providers``)::

    {"name": "corp", "title": "Corporate sign-in", "issuer": "https://idp.example",
     "client_id": "...", "client_secret": "...", "scope": "openid profile email groups",
     "username_claim": "preferred_username", "groups_claim": "groups",
     "role_map": {"sd-agents": "agent", "sd-admins": "admin"},
     "create_users": false, "sync_roles": true, "skip_mfa": false}

An operator is found by the provider's ``sub`` (linked at first sign-in), else by
username; an unknown operator gets an account only where ``create_users`` is true.
Mapped roles replace the operator's roles at each sign-in when ``sync_roles``.
Every refusal is audited as ``auth.login_failed`` with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.common.errors import AuthlibBaseError
import requests
from authlib.integrations.flask_client import OAuth
from joserfc.errors import JoseError
from flask import Blueprint, current_app, flash, request, session, url_for
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.accounts.service import USERNAME, find_user
from portal.audit.record import Actor, Event, record
from portal.db import get_session
from portal.errors import ConfigError, ResourceNotFound
from portal.sso import clock
from portal.sso.identity import client_addr
from portal.sso.models import ExternalIdentity

log = logging.getLogger(__name__)

bp = Blueprint("oidc", __name__)

REQUIRED = ("name", "issuer", "client_id")
NEXT_KEY = "oidc_next"


class OidcProviders:
    def __init__(self, app, configs: list[dict[str, Any]]) -> None:
        self.oauth = OAuth(app)
        self.configs: dict[str, dict[str, Any]] = {}
        for index, config in enumerate(configs):
            missing = [key for key in REQUIRED if not config.get(key)]
            if missing:
                raise ConfigError("settings", f"oidc_providers[{index}]", f"missing {', '.join(missing)}")
            name = str(config["name"])
            if not USERNAME.match(name):
                raise ConfigError("settings", f"oidc_providers[{index}].name", "use a-z, 0-9, '.', '_', '-'")
            issuer = str(config["issuer"]).rstrip("/")
            self.configs[name] = dict(config, issuer=issuer)
            self.oauth.register(
                name,
                client_id=config["client_id"],
                client_secret=config.get("client_secret"),
                server_metadata_url=config.get("discovery_url") or f"{issuer}/.well-known/openid-configuration",
                client_kwargs={"scope": config.get("scope", "openid profile email"), "code_challenge_method": "S256",
                               "timeout": float(config.get("timeout_s", 5.0))},
            )

    @property
    def providers(self) -> list[dict[str, str]]:
        return [{"name": name, "title": config.get("title") or name} for name, config in self.configs.items()]

    def client(self, name: str):
        if name not in self.configs:
            raise ResourceNotFound(f"no identity provider {name!r}")
        return self.oauth.create_client(name)


def init_app(app) -> None:
    settings = app.extensions["portal.settings"]
    app.extensions["portal.oidc"] = OidcProviders(app, settings.oidc_providers)


def _providers() -> OidcProviders:
    return current_app.extensions["portal.oidc"]


@bp.get("/login/oidc/<name>")
def start(name: str):
    client = _providers().client(name)
    session[NEXT_KEY] = request.args.get("next", "")
    return client.authorize_redirect(url_for("oidc.callback", name=name, _external=True))


@bp.get("/login/oidc/<name>/callback")
def callback(name: str):
    from portal.sso.views import _second_factor, finish_login

    providers = _providers()
    client = providers.client(name)
    config = providers.configs[name]
    db = get_session()
    if request.args.get("error"):
        return _refuse(name, "-", f"provider_error:{request.args.get('error')}")
    try:
        token = client.authorize_access_token()
    except (AuthlibBaseError, JoseError) as exc:  # wrong state, wrong nonce, bad ID token, refused code
        log.info("OIDC sign-in through %s refused: %s", name, exc)
        reason = getattr(exc, "error", None) or "invalid_response"
        if isinstance(exc, JoseError) and getattr(exc, "claim", None):
            reason = f"{reason}:{exc.claim}"
        return _refuse(name, "-", reason)
    except requests.RequestException as exc:
        log.warning("identity provider %s unreachable: %s", name, exc)
        return _refuse(name, "-", "provider_unreachable")
    claims = token.get("userinfo") or {}
    subject = str(claims.get("sub") or "")
    if not subject:
        return _refuse(name, "-", "no_subject")
    username = str(claims.get(config.get("username_claim", "preferred_username")) or "").strip().lower()
    roles = _mapped_roles(config, claims)

    identity = db.scalar(select(ExternalIdentity).where(ExternalIdentity.provider == name,
                                                        ExternalIdentity.subject == subject))
    user = db.get(User, identity.user_id) if identity else None
    if user is None and username and config.get("link_by_username", False):
        user = find_user(db, username)
        if user is not None and user.username in current_app.extensions["portal.settings"].break_glass_users:
            return _refuse(name, username, "break_glass_account")  # emergency accounts stay local
    if user is None:
        if not config.get("create_users"):
            return _refuse(name, username or subject, "no_account")
        if not USERNAME.match(username or ""):
            return _refuse(name, username or subject, "bad_username")
        if not roles:
            return _refuse(name, username, "no_mapped_role")
        if find_user(db, username) is not None:
            return _refuse(name, username, "username_taken")  # a local operator not linked to this account
        user = User(username=username, display_name=str(claims.get("name") or ""), teams=[], enabled=True,
                    roles=_role_rows(db, roles))
        db.add(user)
        db.flush()
        record(db, Actor(f"oidc:{name}", client_addr=client_addr()),
               Event(action="user.create", target=username, details={"provider": name, "roles": roles, "jit": True}))
    elif config.get("sync_roles", True) and roles:
        user.roles = _role_rows(db, roles)
    if not user.enabled:
        db.rollback()
        return _refuse(name, user.username, "disabled")
    if not user.roles:
        db.rollback()
        return _refuse(name, user.username, "no_role")
    if identity is None:
        identity = ExternalIdentity(provider=name, subject=subject, user_id=user.id)
        db.add(identity)
    identity.claims = {k: v for k, v in claims.items() if isinstance(v, (str, int, float, bool, list))}
    identity.last_login_at = clock.now()
    db.flush()
    next_url = session.pop(NEXT_KEY, "")
    totp = current_app.extensions["portal.totp"]
    if totp.required_for(user.role_names) and not config.get("skip_mfa"):
        db.commit()
        return _second_factor(user, f"oidc:{name}", next_url)
    return finish_login(user, f"oidc:{name}", next_url, {"provider": name})


def _mapped_roles(config: dict[str, Any], claims: dict[str, Any]) -> list[str]:
    groups = claims.get(config.get("groups_claim", "groups")) or []
    if isinstance(groups, str):
        groups = [groups]
    role_map = config.get("role_map") or {}
    return sorted({role_map[g] for g in groups if isinstance(g, str) and g in role_map})


def _role_rows(db, names: list[str]) -> list[Role]:
    found = list(db.scalars(select(Role).where(Role.name.in_(names))))
    if len(found) != len(set(names)):
        missing = sorted(set(names) - {r.name for r in found})
        raise ConfigError("settings", "oidc_providers.role_map", f"unknown role(s): {', '.join(missing)}")
    return found


def _refuse(provider: str, who: str, reason: str):
    from flask import render_template

    from portal.sso.forms import LoginForm

    db = get_session()
    db.rollback()
    record(db, Actor(str(who)[:64], client_addr=client_addr()),
           Event(action="auth.login_failed", outcome="failure", target=str(who)[:200],
                 details={"method": f"oidc:{provider}", "reason": reason}))
    db.commit()
    flash("Sign-in through the identity provider did not succeed.", "error")
    return render_template("login.html", form=LoginForm(), providers=_providers().providers), 401
