"""Sign-in: local passwords, server-side sessions, brute-force protection, TOTP, identity-provider login
(OIDC), API tokens, and quick-channel hand-offs into the back-office systems.

Modules, one job each: :mod:`.sessions` and :mod:`.stores` (sessions and counters in the database or
Redis), :mod:`.throttle` (lockouts), :mod:`.totp`, :mod:`.provisioning` (identity-provider sign-in as
engine functions: claims in, operator out) and :mod:`.oidc` (its thin web layer: Authlib's Flask
client), :mod:`.handoff` (signed tokens, key ring, encrypted credentials) and :mod:`.quick` (the
browser side of a hand-off), :mod:`.vault` (encryption at rest), :mod:`.identity` (who is asking),
:mod:`.views`, :mod:`.cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.sso import cli, credentials_api, credentials_views, identity, sessions, throttle, views
    from portal.sso.handoff import CredentialVault, Handoffs, KeyRing
    from portal.sso.totp import Totp
    from portal.sso.vault import Vault

    settings = app.extensions["portal.settings"]
    database = app.extensions["portal.db"]
    sessions.init_app(app)
    throttle.init_app(app)
    vault = Vault.from_settings(settings.vault_key, app.config["SECRET_KEY"])
    keyring = KeyRing(database.sessions, vault, settings.handoff_key_alg)
    app.extensions["portal.vault"] = vault
    app.extensions["portal.keyring"] = keyring
    app.extensions["portal.handoffs"] = Handoffs(database.sessions, keyring, settings.handoff_ttl_s)
    app.extensions["portal.credentials"] = CredentialVault(database.sessions, vault)
    if settings.vault_key:  # a real vault: this app's adapters read their service accounts from it too
        from portal.sso.handoff import adapter_credentials_provider

        # Reaches the adapters through their boundary (portal.catalog builds it), never a process-wide setting.
        store = adapter_credentials_provider(app.extensions["portal.credentials"])
        app.extensions["portal.adapter_credentials"] = store
    app.extensions["portal.totp"] = Totp(database.sessions, vault, settings.mfa_required_roles, settings.mfa_issuer)
    if settings.oidc_providers:
        from portal.sso import oidc

        oidc.init_app(app)
    identity.init_app(app)
    app.context_processor(lambda: {"session_warning": True})
    app.register_blueprint(views.bp)
    app.register_blueprint(credentials_api.bp)
    app.register_blueprint(credentials_views.bp)
    if "portal.oidc" in app.extensions:
        from portal.sso import oidc

        app.register_blueprint(oidc.bp)
    app.cli.add_command(cli.sso)
