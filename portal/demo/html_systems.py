"""The three HTML systems: loyalty points, complaint tickets (form login), ring-back tones (GBK).

Wire formats (all plain GET pages; values sit in elements with ids, table cells
carry a class per column, so an adapter reads them with XPath or CSS)::

    GET /member?msisdn=N            loyalty:    span#member-name #tier #points #expiring, table#transactions
    GET /tickets?msisdn=N           complaints: span#customer-name, table#tickets  (session cookie needed)
    GET /rbt/subscriber?msisdn=N    rbt:        span#subscriber-name #current-title #current-artist,
                                                table#library; bytes GBK, Content-Type charset=GBK

A customer the system does not know is HTTP 200 with ``<div id="not-found">``
(these systems show a page for everything). A missing ``msisdn`` is HTTP 400.

Complaints login: ``GET /login`` shows ``<form id="login">`` (fields
``username``, ``password``); ``POST /login`` with the service account sets the
``TICKETDESK_SESSION`` cookie and redirects (303) to ``/``. Without a valid
session every data page answers that login page with HTTP 200, as the legacy
system does; sessions expire after :data:`SESSION_IDLE_S` idle seconds.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from portal.demo import data, ui
from portal.demo.catalogue import SystemSpec
from portal.demo.sso_receiver import receiver_for as ui_receiver
from portal.demo.web import App, h, html_response, html_table, page

COMPLAINTS_USERNAME = "portal-svc"
COMPLAINTS_PASSWORD = "complaints-demo"
SESSION_COOKIE = "TICKETDESK_SESSION"
SESSION_IDLE_S = 15 * 60
MAX_SESSIONS = 1000


def _missing_number(spec: SystemSpec, charset: str = "utf-8") -> Response:
    return html_response(page(spec.name, '<p id="error">msisdn is required</p>', charset), 400, charset)


def _not_found(spec: SystemSpec, number: str) -> str:
    return f'<div id="not-found">{h(spec.name)}: no customer {h(number)}</div>'


# --------------------------------------------------------------------------- loyalty


def _loyalty_app(spec: SystemSpec) -> App:
    app = App(spec.name)

    @app.route("/member")
    def member(request: Request) -> Response:
        number = request.args.get("msisdn", "").strip()
        if not number:
            return _missing_number(spec)
        account = data.loyalty(number)
        if account is None:
            return html_response(page(spec.name, _not_found(spec, number)))
        rows = ([("date", t.date), ("description", t.description), ("points", t.points)]
                for t in account.transactions)
        body = (f"<h1>Points Club</h1>\n<div id=\"member\">Member <span id=\"member-name\">{h(account.name)}</span>"
                f" (<span id=\"msisdn\">{h(number)}</span>)<br>Tier <span id=\"tier\">{h(account.tier)}</span>"
                f"<br>Points <span id=\"points\">{account.points}</span>"
                f"<br>Expiring this year <span id=\"expiring\">{account.expiring}</span></div>\n"
                + html_table("transactions", ["Date", "Description", "Points"], rows))
        return html_response(page(f"{spec.name} — {number}", body))

    return app


# --------------------------------------------------------------------------- complaints


class _Sessions:
    """In-memory sessions of the complaints system (lost when it restarts, like the real one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._users: dict[str, str] = {}

    def create(self, user: str = "") -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._seen[token] = time.monotonic()
            self._users[token] = user
            while len(self._seen) > MAX_SESSIONS:
                self._users.pop(self._seen.popitem(last=False)[0], None)
        return token

    def user(self, token: str | None) -> str | None:
        """Who signed in with this live session (the idle clock restarts), or None."""
        if not self.touch(token):
            return None
        with self._lock:
            return self._users.get(token or "") or None

    def touch(self, token: str | None) -> bool:
        """True (and the idle clock restarted) for a live session."""
        if not token:
            return False
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(token)
            if last is None or now - last > SESSION_IDLE_S:
                self._seen.pop(token, None)
                return False
            self._seen[token] = now
            self._seen.move_to_end(token)
            return True

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._seen.pop(token or "", None)


def login_page(spec: SystemSpec, error: str | None = None) -> Response:
    """The sign-in page, HTTP 200 (also what the ``login_page`` fault shows, byte for byte)."""
    message = f'<p id="login-error">{h(error)}</p>' if error else ""
    body = (f"<h1>Ticket Desk — sign in</h1>{message}\n"
            '<form id="login" method="post" action="/login">'
            '<label>User <input name="username" autocomplete="username"></label> '
            '<label>Password <input type="password" name="password"></label> '
            "<button type=\"submit\">Sign in</button></form>")
    return html_response(page(f"{spec.name} — sign in", body))


def _complaints_app(spec: SystemSpec) -> App:
    app = App(spec.name)
    sessions = _Sessions()
    receiver = ui_receiver(spec)  # the customer screen accepts this system's own login too
    # One receiver per system id serves every back office of this process (tests run several, on free ports):
    # one check per port, so that building this app for another back office does not replace this one's.
    receiver.add_check(lambda request: sessions.user(request.cookies.get(SESSION_COOKIE)),
                       name=f"own-login:{spec.port}")
    receiver.login_page = lambda request: login_page(spec)

    def signed_in(request: Request) -> bool:
        return sessions.touch(request.cookies.get(SESSION_COOKIE))

    @app.route("/login", methods=("GET", "POST"))
    def login(request: Request) -> Response:
        if request.method == "GET":
            return login_page(spec)
        user = request.form.get("username", "")
        password = request.form.get("password", "")
        good = (hmac.compare_digest(user.encode(), COMPLAINTS_USERNAME.encode())
                & hmac.compare_digest(password.encode(), COMPLAINTS_PASSWORD.encode()))
        if not good:
            return login_page(spec, "Invalid user name or password.")
        # The portal's form-mode quick channel sends where to go next: the customer's screen.
        target = request.form.get("next", "")
        target = target if target.startswith("/") and not target.startswith("//") else "/"
        response = redirect(target, code=303)
        response.set_cookie(SESSION_COOKIE, sessions.create(user), httponly=True, samesite="Lax", path="/")
        return response

    @app.route("/logout")
    def logout(request: Request) -> Response:
        sessions.drop(request.cookies.get(SESSION_COOKIE))
        response = redirect("/login", code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.route("/")
    def home(request: Request) -> Response:
        if not signed_in(request):
            return login_page(spec)
        body = ('<h1>Ticket Desk</h1><form id="search" action="/tickets">'
                '<input name="msisdn"> <button>Find tickets</button></form>')
        return html_response(page(spec.name, body))

    @app.route("/tickets")
    def tickets(request: Request) -> Response:
        if not signed_in(request):
            return login_page(spec)
        number = request.args.get("msisdn", "").strip()
        if not number:
            return _missing_number(spec)
        record = data.complaints(number)
        if record is None:
            return html_response(page(spec.name, _not_found(spec, number)))
        rows = ([("id", t.id), ("opened", t.opened), ("category", t.category), ("state", t.state)]
                for t in record.tickets)
        body = (f"<h1>Ticket Desk</h1>\n<div id=\"customer\">Customer <span id=\"customer-name\">"
                f"{h(record.name)}</span> (<span id=\"msisdn\">{h(number)}</span>), "
                f"<span id=\"ticket-count\">{len(record.tickets)}</span> ticket(s)</div>\n"
                + html_table("tickets", ["Ticket", "Opened", "Category", "State"], rows))
        return html_response(page(f"{spec.name} — {number}", body))

    return app


# --------------------------------------------------------------------------- ring-back tones


RBT_CHARSET = "GBK"


def _rbt_app(spec: SystemSpec) -> App:
    app = App(spec.name)

    @app.route("/rbt/subscriber")
    def subscriber(request: Request) -> Response:
        number = request.args.get("msisdn", "").strip()
        if not number:
            return _missing_number(spec, RBT_CHARSET)
        account = data.rbt(number)
        if account is None:
            return html_response(page(spec.name, _not_found(spec, number), RBT_CHARSET), charset=RBT_CHARSET)
        rows = ([("title", t.title), ("artist", t.artist), ("price", t.price), ("expires", t.expires)]
                for t in account.library)
        body = (f"<h1>彩铃平台</h1>\n<div id=\"subscriber\">用户 <span id=\"subscriber-name\">{h(account.name)}</span>"
                f" (<span id=\"msisdn\">{h(number)}</span>)<br>当前彩铃 <span id=\"current-title\">"
                f"{h(account.current.title)}</span> — <span id=\"current-artist\">{h(account.current.artist)}</span>"
                "</div>\n<h2>彩铃库</h2>\n"
                + html_table("library", ["歌曲", "歌手", "价格", "有效期至"], rows))
        return html_response(page(f"{spec.name} — {number}", body, RBT_CHARSET), charset=RBT_CHARSET)

    return app


_BUILDERS: dict[str, Callable[[SystemSpec], App]] = {
    "loyalty": _loyalty_app, "complaints": _complaints_app, "rbt": _rbt_app,
}

#: Where each HTML system shows one customer (``msisdn`` query parameter).
DATA_PATHS: dict[str, str] = {"loyalty": "/member", "complaints": "/tickets", "rbt": "/rbt/subscriber"}


def build_app(spec: SystemSpec, host: str) -> App:
    """The WSGI app of one HTML system, with its customer screen."""
    app = _BUILDERS[spec.id](spec)
    ui.add_screen_route(app, spec)
    return app
