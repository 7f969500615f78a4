"""Form login of the html kind against a tiny in-test web application with sessions."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import pytest

from portal.adapters import secrets
from portal.adapters.base import Status
from portal.adapters.boundary import Boundary

from .conftest import Reply

LOGIN_PAGE = b"""<html><body><form id="login" method="post" action="/login">
<input type="hidden" name="csrf" value="tok-123"><input name="user"><input name="pass" type="password">
</form></body></html>"""


class App:
    """Cookie sessions that the test can make the application forget."""

    def __init__(self, web) -> None:
        self.sessions: set[str] = set()
        self.logins: list[dict[str, list[str]]] = []
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        web.route("GET", "/customer/13800000000", self.customer)
        web.route("POST", "/login", self.login)
        web.route("GET", "/welcome", Reply(body=b"<html><body>Welcome</body></html>"))

    def _sid(self, seen) -> str | None:
        for part in seen.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "sid":
                return value
        return None

    def customer(self, seen) -> Reply:
        if self._sid(seen) not in self.sessions:
            return Reply(body=LOGIN_PAGE)
        return Reply(body=b"<html><body><td id='tickets'>2 open</td></body></html>")

    def login(self, seen) -> Reply:
        form = parse_qs(seen.body.decode())
        with self.lock:
            self.logins.append(form)
        if form.get("user") != ["agent-svc"] or form.get("pass") != ["s3cret"] or form.get("csrf") != ["tok-123"]:
            return Reply(body=LOGIN_PAGE)
        sid = f"s{next(self.ids)}"
        self.sessions.add(sid)
        return Reply(status=302, headers={"Location": "/welcome", "Set-Cookie": f"sid={sid}; Path=/; HttpOnly"})

    def forget(self) -> None:
        self.sessions.clear()


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("PORTAL_CRED_TICKETS_USERNAME", "agent-svc")
    monkeypatch.setenv("PORTAL_CRED_TICKETS_PASSWORD", "s3cret")


def login_doc(web, **login):
    return {
        "url": web.url + "/customer/{customer}",
        "timeout_s": 2.0,
        "fields": {"tickets": {"path": "//td[@id='tickets']"}},
        "login": {
            "url": web.url + "/login",
            "username_field": "user",
            "password_field": "pass",
            "credentials": "tickets",
            "login_page": "//form[@id='login']",
            **login,
        },
    }


def test_logs_in_once_and_reuses_the_session(web, make_adapter, creds):
    app = App(web)
    adapter = make_adapter("html", **login_doc(web))
    first = adapter.lookup("13800000000")
    assert first.status is Status.OK, first.error
    assert first.fields == {"tickets": "2 open"}
    assert len(app.logins) == 1
    assert app.logins[0]["csrf"] == ["tok-123"]  # hidden inputs of the login form go along
    assert adapter.lookup("13800000000").status is Status.OK
    assert len(app.logins) == 1


def test_logs_in_again_when_the_system_forgets_the_session(web, make_adapter, creds):
    app = App(web)
    adapter = make_adapter("html", **login_doc(web))
    assert adapter.lookup("13800000000").status is Status.OK
    app.forget()
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert len(app.logins) == 2


def test_concurrent_lookups_log_in_once(web, make_adapter, creds):
    app = App(web)
    adapter = make_adapter("html", **login_doc(web))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: adapter.lookup("13800000000"), range(8)))
    assert all(r.status is Status.OK for r in results), [r.error for r in results]
    assert len(app.logins) == 1


def test_wrong_password_is_reported_not_retried_forever(web, make_adapter, monkeypatch):
    app = App(web)
    monkeypatch.setenv("PORTAL_CRED_TICKETS_USERNAME", "agent-svc")
    monkeypatch.setenv("PORTAL_CRED_TICKETS_PASSWORD", "wrong")
    adapter = make_adapter("html", **login_doc(web))
    result = adapter.lookup("13800000000")
    assert (result.status, result.error) == (Status.ERROR, "login rejected by the system")
    assert len(app.logins) == 1


def test_missing_credentials_name_the_variables(web, make_adapter, monkeypatch):
    App(web)
    monkeypatch.delenv("PORTAL_CRED_TICKETS_USERNAME", raising=False)
    monkeypatch.delenv("PORTAL_CRED_TICKETS_PASSWORD", raising=False)
    adapter = make_adapter("html", **login_doc(web))
    result = adapter.lookup("13800000000")
    assert (result.status, result.error) == (Status.ERROR, "credentials PORTAL_CRED_TICKETS_* not set")


def test_still_on_the_login_page_after_logging_in(web, make_adapter, creds):
    app = App(web)
    # A system that accepts the login but never honours the cookie.
    web.route("GET", "/customer/13800000000", Reply(body=LOGIN_PAGE))
    adapter = make_adapter("html", **login_doc(web))
    result = adapter.lookup("13800000000")
    assert (result.status, result.error) == (Status.ERROR, "still on the login page after logging in")
    assert len(app.logins) == 1


@pytest.fixture
def store():
    """An app's credentials store, lent to adapters through their boundary: ``store.use(fn)`` changes it."""

    class Store:
        lookup = staticmethod(lambda name: None)

        def use(self, fn):
            self.lookup = fn

        def __call__(self, name):
            return self.lookup(name)

        @property
        def boundary(self) -> Boundary:
            return Boundary(credentials=self)

    return Store()


def test_credentials_come_from_the_store_of_the_adapters_boundary(web, make_adapter, store, monkeypatch):
    app = App(web)
    monkeypatch.delenv("PORTAL_CRED_TICKETS_USERNAME", raising=False)
    asked = []

    def lookup(name):
        asked.append(name)
        return ("agent-svc", "s3cret") if name == "tickets" else None

    store.use(lookup)
    adapter = make_adapter("html", boundary=store.boundary, **login_doc(web))
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert asked == ["tickets"] and len(app.logins) == 1


def test_a_store_without_the_credentials_or_failing_gives_a_short_error(web, make_adapter, store):
    App(web)
    adapter = make_adapter("html", boundary=store.boundary, **login_doc(web))
    result = adapter.lookup("13800000000")
    assert (result.status, result.error) == (Status.ERROR, "credentials 'tickets' not found in the credential store")

    def broken(name):
        raise RuntimeError("vault sealed: secret detail")

    store.use(broken)
    result = adapter.lookup("13800000000")
    assert (result.status, result.error) == (Status.ERROR, "credentials 'tickets' could not be read")


def test_rotated_password_is_picked_up_at_the_next_login(web, make_adapter, store):
    app = App(web)
    current = {"password": "old"}
    store.use(lambda name: ("agent-svc", current["password"]))
    adapter = make_adapter("html", boundary=store.boundary, **login_doc(web))
    assert adapter.lookup("13800000000").error == "login rejected by the system"
    current["password"] = "s3cret"
    assert adapter.lookup("13800000000").status is Status.OK
    assert len(app.logins) == 2


def test_without_a_store_credentials_come_from_the_environment(monkeypatch):
    from portal.adapters.boundary import Scope, running

    monkeypatch.setenv("PORTAL_CRED_X_USERNAME", "u")
    monkeypatch.setenv("PORTAL_CRED_X_PASSWORD", "p")
    assert secrets.credentials("x") == ("u", "p")  # outside any lookup
    with running(Scope(Boundary(credentials=lambda name: ("other", "pw")), "x", None)):
        assert secrets.credentials("x") == ("other", "pw")
    with running(Scope(Boundary(), "x", None)):
        assert secrets.credentials("x") == ("u", "p")
    assert secrets.provider_of(None) is secrets.environment_credentials
