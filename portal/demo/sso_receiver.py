"""The receiving end of the portal's quick channels, as each simulated system implements it.

A system *joined* to a portal (:func:`join_portal`, or ``PORTAL_DEMO_PORTAL_URL``
in the environment) shows its customer screens only to a signed-in operator;
anyone else gets its login page (HTTP 401). A system not joined keeps its screens
open, as the demo always had them, and honours hand-offs from the portal at
:data:`DEFAULT_PORTAL_URL` (where ``portal demo`` serves it).

``POST /sso`` (fields ``token``, ``next``) signs an operator in from a hand-off:

1. the token's signature is checked against the portal's JWKS
   (``<portal>/.well-known/jwks.json``, fetched again when a new key id shows up),
   its algorithm (ES256/RS256), issuer (the portal's URL), audience (this
   system's id), expiry and lifetime (at most 60 s);
2. its ``jti`` must be new here (single use, kept until it expires);
3. it is redeemed at the portal (``POST <portal>/sso/handoff/redeem``), which
   refuses a token redeemed elsewhere or whose portal session has ended (logout);
4. the system starts its own session (cookie ``DEMO_SSO_<ID>``) and redirects to
   the customer's screen, which names the signed-in operator.

Form-mode systems (complaints) sign in through their own login form instead and
register that session check here (:meth:`Receiver.add_check`).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable

import requests
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from portal.demo.catalogue import SystemSpec
from portal.demo.web import h, html_response, page

SESSION_S = 8 * 3600
JWKS_REFRESH_S = 60.0
JWKS_RETRY_S = 1.0
HTTP_TIMEOUT_S = 3.0
ENV_PORTAL_URL = "PORTAL_DEMO_PORTAL_URL"
DEFAULT_PORTAL_URL = "http://127.0.0.1:5000"  # where `portal demo` serves the portal

Check = Callable[[Request], "str | None"]


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Receiver:
    """One system's sign-in state: its own sessions, the hand-offs it has seen, the portal's keys."""

    def __init__(self, spec: SystemSpec) -> None:
        self.spec = spec
        self.cookie = f"DEMO_SSO_{spec.id.upper()}"
        self._portal_url: str | None = None
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, str, float]] = {}  # cookie -> (username, name, expires)
        self._seen: dict[str, float] = {}  # jti -> exp
        self._keys = None
        self._keys_at = 0.0
        self._checks: dict[str, Check] = {}
        self.login_page: Callable[[Request], Response] | None = None
        self._http = requests.Session()
        self._http.trust_env = False  # loopback only; no proxies or CA bundles from the environment

    # -- configuration

    @property
    def portal_url(self) -> str | None:
        return self._portal_url or os.environ.get(ENV_PORTAL_URL) or None

    @property
    def joined(self) -> bool:
        return self.portal_url is not None

    @property
    def trusted_url(self) -> str:
        """The portal whose hand-offs are honoured: the joined one, else ``portal demo``'s default address."""
        return self.portal_url or DEFAULT_PORTAL_URL

    def join(self, portal_url: str | None) -> None:
        with self._lock:
            self._portal_url = portal_url.rstrip("/") if portal_url else None
            self._keys, self._keys_at = None, 0.0
            self._sessions.clear()
            self._seen.clear()

    def add_check(self, check: Check, name: str = "own-login") -> None:
        """Another way this system knows who is signed in (its own login form); replaces one of that name."""
        self._checks[name] = check

    # -- who is signed in

    def operator(self, request: Request) -> str | None:
        token = request.cookies.get(self.cookie)
        if token:
            with self._lock:
                found = self._sessions.get(token)
                if found and found[2] > time.time():
                    return found[1] or found[0]
                self._sessions.pop(token, None)
        for check in list(self._checks.values()):
            name = check(request)
            if name:
                return name
        return None

    def refuse(self, request: Request, reason: str | None = None, status: int = 401) -> Response:
        if self.login_page is not None and reason is None:
            response = self.login_page(request)
            response.status_code = status
            return response
        error = f'<p id="sso-error">Sign-in refused: {h(reason)}</p>' if reason else ""
        body = (f"<h1>{h(self.spec.name)} — sign in</h1>{error}\n"
                '<form id="login" method="post" action="/login"><p>This system signs operators in through the '
                "service-desk portal. Open it from the portal's customer view.</p></form>")
        return html_response(page(f"{self.spec.name} — sign in", body), status)

    # -- the hand-off

    def handle_sso(self, request: Request) -> Response:
        if request.method != "POST":
            return self.refuse(request, "hand-offs are posted", 405)
        try:
            claims = self.accept(request.form.get("token", ""))
        except Refused as exc:
            return self.refuse(request, exc.reason, 403)
        session = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session] = (str(claims["sub"]), str(claims.get("name") or claims["sub"]),
                                       time.time() + SESSION_S)
        target = request.form.get("next", "")
        if not (target.startswith("/ui/") and not target.startswith("//")):
            target = f"/ui/customer/{claims.get('customer', '')}"
        response = redirect(target, code=303)
        response.set_cookie(self.cookie, session, httponly=True, samesite="Lax", path="/")
        return response

    def accept(self, token: str) -> dict:
        """The claims of a hand-off this system may honour; :class:`Refused` otherwise."""
        from portal.sso.handoff import HandoffRefused, verify_token

        issuer = self.trusted_url
        try:
            claims = verify_token(token, self._key_set(token), issuer=issuer, audience=self.spec.id)
        except HandoffRefused as exc:
            raise Refused(exc.reason) from exc
        now = time.time()
        with self._lock:
            for jti, exp in list(self._seen.items()):
                if exp < now - 120:
                    del self._seen[jti]
            if claims["jti"] in self._seen:
                raise Refused("replayed")
            self._seen[claims["jti"]] = float(claims["exp"])
        try:
            answer = self._http.post(f"{issuer}/sso/handoff/redeem", data={"token": token, "audience": self.spec.id},
                                     headers={"Accept": "application/json"}, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            raise Refused("portal unreachable") from exc
        if answer.status_code != 200:
            try:
                reason = answer.json().get("reason", "refused by the portal")
            except ValueError:
                reason = "refused by the portal"
            raise Refused(reason)
        return claims

    def _key_set(self, token: str):
        from joserfc import jwk
        from joserfc.jws import extract_compact

        try:
            kid = extract_compact(token.encode()).protected.get("kid")
        except Exception as exc:  # not a JWS at all
            raise Refused("malformed") from exc
        with self._lock:
            keys, fetched = self._keys, self._keys_at
        known = keys is not None and any(k.kid == kid for k in keys.keys)
        age = time.time() - fetched
        if keys is None or age > JWKS_REFRESH_S or (not known and age > JWKS_RETRY_S):
            try:
                answer = self._http.get(f"{self.trusted_url}/.well-known/jwks.json", timeout=HTTP_TIMEOUT_S)
                answer.raise_for_status()
                keys = jwk.KeySet.import_key_set(answer.json())
            except (requests.RequestException, ValueError) as exc:
                if keys is None:
                    raise Refused("portal keys unavailable") from exc
            with self._lock:
                self._keys, self._keys_at = keys, time.time()
        return keys


_receivers: dict[str, Receiver] = {}
_registry_lock = threading.Lock()


def receiver_for(spec: SystemSpec) -> Receiver:
    """The one receiver of a system in this process (every app built for it shares it)."""
    with _registry_lock:
        receiver = _receivers.get(spec.id)
        if receiver is None:
            receiver = _receivers[spec.id] = Receiver(spec)
        return receiver


def join_portal(portal_url: str | None, systems: list[str] | None = None) -> None:
    """Make the systems (all by default) trust the portal at ``portal_url`` (None: leave it)."""
    from portal.demo.catalogue import SYSTEMS

    for spec in SYSTEMS:
        if systems is None or spec.id in systems:
            receiver_for(spec).join(portal_url)
