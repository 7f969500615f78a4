"""The browser side of a quick channel: after ``/go/<system>/<number>`` is authorised and audited,
answer a plain redirect (``none``), or an auto-submitting form post carrying a hand-off token
(``token``) or the system's login credentials (``form``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, make_response, redirect, render_template

from portal.adapters.boundary import Scope, running
from portal.adapters.secrets import credentials as adapter_credentials
from portal.db import get_session
from portal.errors import BackendProtocolError
from portal.sso.handoff import SERVICE_ACCOUNT, NoCredentials
from portal.sso.identity import session_handle
from portal.web import CONTENT_SECURITY_POLICY

SSO_PATH = "/sso"
LOGIN_PATH = "/login"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def hand_over(adapter, url: str, number: str, operator, epoch: int):
    """The response that takes the operator to ``url`` in ``adapter``'s system, signed in if it can."""
    from portal.sso.views import issuer

    mode = adapter.config.deep_link.sso
    if mode == "none":
        return redirect(url, code=303)
    origin = origin_of(url)
    if mode == "token":
        handoff = current_app.extensions["portal.handoffs"].issue(
            issuer=issuer(), system_id=adapter.id, username=operator.username, display_name=operator.display_name,
            customer=number, session_handle=session_handle() or "", epoch=epoch, roles=operator.roles,
            db=get_session())  # a signing key made on first use joins the request's unit of work
        fields = {"token": handoff.token, "next": path_of(url)}
        action = origin + SSO_PATH
    else:
        username, password = form_credentials(adapter, operator.username)
        fields = {"username": username, "password": password, "next": path_of(url)}
        action = origin + LOGIN_PATH
    page = render_template("sso/handoff.html", action=action, fields=fields, system=adapter.config.name,
                           mode=mode)
    response = make_response(page)
    # The auto-submitting form leaves the portal for this one system, and nothing may keep the page.
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {origin}")
    response.headers["Cache-Control"] = "no-store"
    return response


def form_credentials(adapter, operator: str) -> tuple[str, str]:
    """The operator's own credentials for the system, else its service account (vault), else the
    adapter's own login credentials (``[login] credentials``)."""
    found = current_app.extensions["portal.credentials"].lookup(adapter.id, operator)
    if found is not None:
        return found[0], found[1]
    login = getattr(getattr(adapter, "options", None), "login", None)
    name = getattr(login, "credentials", None)
    if name:
        try:
            # As the adapter's own login would: from the store its boundary lends it, if bound to it.
            with running(Scope(adapter.boundary, adapter.id, adapter.config.owner)):
                return adapter_credentials(name)
        except BackendProtocolError as exc:
            raise NoCredentials(f"no credentials for {adapter.config.name}: {exc.detail}") from exc
    raise NoCredentials(f"no credentials stored for {adapter.config.name} (operator {operator!r} or "
                        f"service account {SERVICE_ACCOUNT!r}); see `portal sso credentials set`")
