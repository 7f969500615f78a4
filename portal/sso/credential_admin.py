"""The running app's credentials engine, for the credentials page and ``/api/v1/sso/credentials`` alike.

Neutral ground, so that neither :mod:`portal.sso.credentials_views` nor :mod:`portal.sso.credentials_api`
imports the other.
"""

from __future__ import annotations

from flask import current_app

from portal.sso.credentials import CredentialAdmin


def credential_admin() -> CredentialAdmin:
    # Built per request: the catalogue is set up after sign-in, and both are shared objects anyway.
    return CredentialAdmin(current_app.extensions["portal.credentials"], current_app.extensions["portal.catalog"],
                           current_app.extensions.get("portal.boundary"))
