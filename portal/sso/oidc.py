"""Sign-in through OpenID Connect identity providers, with Authlib's Flask client.

Authorization code flow with PKCE (S256), endpoints from each provider's discovery
document, ``state`` and ``nonce`` kept in the (server-side) session and checked by
Authlib on the way back. Several providers can be configured (``oidc_providers``)::

    {"name": "corp", "title": "Corporate sign-in", "issuer": "https://idp.example",
     "client_id": "...", "client_secret": "...", "scope": "openid profile email groups",
     "username_claim": "preferred_username", "groups_claim": "groups",
     "role_map": {"sd-agents": "agent", "sd-admins": "admin"},
     "create_users": false, "sync_roles": true, "skip_mfa": false}

This module is the thin web layer, like Authlib's Flask client over its framework-free core:
it runs the redirect dance and turns Authlib's verdict into claims. Who those claims are
(found by the provider's ``sub``, linked by username, or created just in time), which roles
they get, whether they may sign in and whether a second factor is still due is decided by
the engine functions of :mod:`portal.sso.provisioning`, which take a session and the claims
and know nothing of Flask. Every refusal is audited as ``auth.login_failed`` with the reason;
the request's unit of work (:mod:`portal.db`) commits, or rolls back and keeps that record.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, current_app, flash, render_template, request, session, url_for
from joserfc.errors import JoseError

from portal.accounts.service import USERNAME
from portal.db import get_session
from portal.errors import ConfigError, ResourceNotFound
from portal.rbac.decorators import public
from portal.sso import provisioning
from portal.sso.forms import LoginForm
from portal.sso.identity import client_addr
from portal.sso.provisioning import ProviderRules, SignInRefused

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
@public("starting sign-in at an identity provider, before the session is signed in")
def start(name: str):
    client = _providers().client(name)
    session[NEXT_KEY] = request.args.get("next", "")
    return client.authorize_redirect(url_for("oidc.callback", name=name, _external=True))


@bp.get("/login/oidc/<name>/callback")
@public("the identity provider's redirect back; Authlib checks state, nonce and the ID token")
def callback(name: str):
    """The provider's answer: Authlib verifies it, :mod:`portal.sso.provisioning` decides who signs in."""
    from portal.sso.views import _second_factor, finish_login

    providers = _providers()
    client = providers.client(name)
    db = get_session()
    addr = client_addr()
    try:
        if request.args.get("error"):
            raise provisioning.refuse(db, name, "-", f"provider_error:{request.args.get('error')}", addr)
        claims = _verified_claims(db, name, client, addr)
        done = provisioning.sign_in(
            db, ProviderRules.from_config(providers.configs[name]), claims,
            break_glass_users=current_app.extensions["portal.settings"].break_glass_users,
            second_factor_roles=current_app.extensions["portal.totp"].required_roles, client_addr=addr)
    except SignInRefused:
        flash("Sign-in through the identity provider did not succeed.", "error")
        return render_template("login.html", form=LoginForm(), providers=providers.providers), 401
    next_url = session.pop(NEXT_KEY, "")
    if done.needs_second_factor:
        return _second_factor(done.user, done.method, next_url)
    return finish_login(done.user, done.method, next_url, {"provider": name})


def _verified_claims(db, name: str, client, addr: str | None) -> dict[str, Any]:
    """The ID token's claims after Authlib's checks; a refusal (audited) when they fail."""
    try:
        token = client.authorize_access_token()
    except (AuthlibBaseError, JoseError) as exc:  # wrong state, wrong nonce, bad ID token, refused code
        log.info("OIDC sign-in through %s refused: %s", name, exc)
        reason = getattr(exc, "error", None) or "invalid_response"
        claim = getattr(exc, "claim", None)  # joserfc's claim errors name the claim
        if isinstance(exc, JoseError) and claim:
            reason = f"{reason}:{claim}"
        raise provisioning.refuse(db, name, "-", reason, addr) from exc
    except requests.RequestException as exc:
        log.warning("identity provider %s unreachable: %s", name, exc)
        raise provisioning.refuse(db, name, "-", "provider_unreachable", addr) from exc
    return dict(token.get("userinfo") or {})
