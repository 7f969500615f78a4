"""Fixtures of the sign-in tests: a portal served over real HTTP (the simulated systems fetch its JWKS
and redeem hand-offs there), a browser-like requests session, and a movable clock."""

from __future__ import annotations

import re
import threading

import pytest
import requests

from tests.conftest import PASSWORD, csrf_token


@pytest.fixture
def clock(monkeypatch):
    """The portal's one clock (:mod:`portal.clock`), moved by ``advance(seconds)``."""
    import time

    from portal import clock as portal_clock

    class Clock:
        offset = 0.0

        def now(self) -> float:
            return time.time() + self.offset

        def advance(self, seconds: float) -> None:
            self.offset += seconds

    moved = Clock()
    monkeypatch.setattr(portal_clock, "now", moved.now)
    return moved


@pytest.fixture
def live_portal(app):
    """The test app served on an ephemeral loopback port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def joined(backoffice, live_portal):
    """The simulated back office trusting the live portal; left again afterwards."""
    from portal.demo.sso_receiver import join_portal

    join_portal(live_portal)
    yield backoffice
    join_portal(None)


class Browser:
    """A requests session that signs in and follows the portal's auto-submitting hand-off pages."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def get(self, path: str, **kwargs):
        url = path if path.startswith("http") else self.base + path
        return self.http.get(url, timeout=10, **kwargs)

    def login(self, username: str, password: str = PASSWORD):
        page = self.get("/login").text
        return self.http.post(self.base + "/login", data={"username": username, "password": password,
                                                          "csrf_token": csrf_token(page)},
                              allow_redirects=False, timeout=10)

    def logout(self):
        page = self.get("/logout").text
        return self.http.post(self.base + "/logout", data={"csrf_token": csrf_token(page)}, allow_redirects=False,
                              timeout=10)

    def handoff_form(self, system_id: str, number: str) -> tuple[str, dict[str, str], requests.Response]:
        """``/go/<system>/<number>``: the auto-submit form's action and fields (as the script would post)."""
        response = self.get(f"/go/{system_id}/{number}", allow_redirects=False)
        assert response.status_code == 200, response.text[:300]
        return parse_form(response.text) + (response,)

    def submit(self, action: str, fields: dict[str, str]):
        return self.http.post(action, data=fields, timeout=10)

    def open(self, system_id: str, number: str):
        """Click the quick channel and land where the system sends the browser."""
        action, fields, _ = self.handoff_form(system_id, number)
        return self.submit(action, fields)


def parse_form(html: str) -> tuple[str, dict[str, str]]:
    form = re.search(r'<form id="sso-handoff" method="post" action="([^"]+)"', html)
    assert form, "no hand-off form in the page"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    import html as htmllib

    return htmllib.unescape(form.group(1)), {k: htmllib.unescape(v) for k, v in fields.items()}


@pytest.fixture
def browser(live_portal):
    return Browser(live_portal)
