"""OpenID Connect sign-in end to end against a real provider: panva's certified `oidc-provider`
(npm, tests/sso/oidc_provider) started on loopback, the portal served over HTTP, a browser-like client.

The provider's locked packages are installed with `npm ci` on first use; skipped only without node/npm.
"""

import re
import shutil
import socket
import subprocess
import threading
import time
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from sqlalchemy import select

from portal.audit.models import AuditEvent

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ports():
    # The provider must be told its issuer URL before it listens, so its port is picked ahead (and left free
    # until node binds it); the portal binds a free port itself (live_portal).
    return {"idp": free_port()}


@pytest.fixture
def settings_overrides(settings_overrides, ports):
    provider = {"name": "test", "title": "Test IdP", "issuer": f"http://127.0.0.1:{ports['idp']}",
                "client_id": "portal", "client_secret": "portal-test-secret", "scope": "openid profile groups",
                "role_map": {"sd-agents": "agent", "sd-admins": "admin"}, "create_users": True,
                "link_by_username": True}
    return {**settings_overrides, "oidc_providers": [provider]}


@pytest.fixture
def live_portal(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def provider_installed() -> str:
    """node, with the provider's locked packages installed (once, from the npm registry) if missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the real OIDC provider")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR,
                                   capture_output=True, text=True, timeout=300)
        assert installed.returncode == 0, f"npm ci in {PROVIDER_DIR} failed:\n{installed.stderr[-2000:]}"
    return node


@pytest.fixture
def idp(ports, live_portal, provider_installed):
    node = provider_installed
    process = subprocess.Popen([node, "server.mjs", str(ports["idp"]), f"{live_portal}/login/oidc/test/callback"],
                               cwd=PROVIDER_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 15
        line = ""
        while time.monotonic() < deadline and not line.startswith("ready"):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                pytest.fail("the OIDC provider did not start")
        yield f"http://127.0.0.1:{ports['idp']}"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def browser() -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    return http


def to_provider_login(http, portal: str, username: str) -> requests.Response:
    """Start at the portal, sign in at the provider; return the provider's redirect back (not followed)."""
    page = http.get(f"{portal}/login/oidc/test", timeout=10)
    assert "/interaction/" in page.url, page.text[:300]
    action = unescape(re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1))
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    url = requests.compat.urljoin(page.url, action)
    response = http.post(url, data={**fields, "login": username, "password": "any"}, allow_redirects=False,
                         timeout=10)
    while response.status_code in (302, 303) and not response.headers["Location"].startswith(portal):
        response = http.get(requests.compat.urljoin(response.url, response.headers["Location"]),
                            allow_redirects=False, timeout=10)
    assert response.headers["Location"].startswith(f"{portal}/login/oidc/test/callback"), response.text[:300]
    return response


def events(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_login_page_offers_the_provider(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'id="oidc-test"' in page and "Test IdP" in page


def test_code_flow_with_pkce_creates_the_operator_with_mapped_roles(idp, live_portal, db):
    http = browser()
    start = http.get(f"{live_portal}/login/oidc/test", allow_redirects=False, timeout=10)
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] and query["nonce"]
    assert query["state"] and query["response_type"] == ["code"]
    back = to_provider_login(http, live_portal, "carol")
    landed = http.get(back.headers["Location"], timeout=10)
    assert landed.url == f"{live_portal}/" and 'name="number"' in landed.text
    from portal.accounts.service import find_user

    db.expire_all()
    carol = find_user(db, "carol")
    assert carol.role_names == ["agent"] and carol.password_hash is None
    [login] = events(db, "auth.login")
    assert login.actor == "carol" and login.details["method"] == "oidc:test"
    [created] = events(db, "user.create")
    assert created.details["jit"] is True


def test_existing_operator_signs_in_and_roles_follow_the_groups(idp, live_portal, make_user, db):
    make_user("dave", "agent")
    http = browser()
    back = to_provider_login(http, live_portal, "dave")
    http.get(back.headers["Location"], timeout=10)
    from portal.accounts.service import find_user

    db.expire_all()
    assert find_user(db, "dave").role_names == ["admin"]


def test_an_account_without_a_mapped_role_is_refused(idp, live_portal, db):
    http = browser()
    back = to_provider_login(http, live_portal, "erin")
    refused = http.get(back.headers["Location"], timeout=10)
    assert refused.status_code == 401 and "did not succeed" in refused.text
    assert [e.details["reason"] for e in events(db, "auth.login_failed")] == ["no_mapped_role"]
    assert http.get(f"{live_portal}/", allow_redirects=False, timeout=10).status_code == 302


def test_a_wrong_state_is_refused(idp, live_portal, db):
    http = browser()
    back = to_provider_login(http, live_portal, "carol")
    parts = urlsplit(back.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = "forged-state"
    refused = http.get(urlunsplit(parts._replace(query=urlencode(query))), timeout=10)
    assert refused.status_code == 401
    [failed] = events(db, "auth.login_failed")
    assert failed.details["reason"] == "mismatching_state"
    assert events(db, "auth.login") == []


def test_a_wrong_nonce_is_refused(app, idp, live_portal, db):
    from portal.sso.sessions import handle_of

    http = browser()
    back = to_provider_login(http, live_portal, "carol")
    # The portal remembered the nonce it sent in the server-side session: change it, as if the ID token
    # answering this request had been minted for another one (a replayed or injected ID token).
    store = app.extensions["portal.session_store"]
    record = store.load(handle_of(http.cookies.get("portal_session")))
    [key] = [k for k in record.data if k.startswith("_state_test_")]
    record.data[key]["data"]["nonce"] = "not-the-nonce-sent"
    store.save(record)
    refused = http.get(back.headers["Location"], timeout=10)
    assert refused.status_code == 401
    [failed] = events(db, "auth.login_failed")
    assert "nonce" in failed.details["reason"] or failed.details["reason"] == "invalid_claim"
    assert events(db, "auth.login") == []


def test_passwords_can_be_switched_off_except_for_break_glass_admins(settings_overrides, make_user):
    from portal import create_app, migrate
    from portal.db import get_database
    from tests.conftest import PASSWORD, csrf_token

    app = create_app({**settings_overrides, "password_login": "break_glass", "break_glass_users": "root"})
    with app.app_context():
        migrate.upgrade(get_database().engine)
    with app.extensions["portal.db"].session() as session:
        from portal.accounts.service import create_user

        create_user(session, "root", PASSWORD, ["admin"])
        create_user(session, "alice", PASSWORD, ["agent"])
        session.commit()
    for username, status in (("alice", 403), ("root", 302)):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        response = client.post("/login", data={"username": username, "password": PASSWORD,
                                               "csrf_token": csrf_token(page)})
        assert response.status_code == status


def test_without_linking_an_existing_username_is_not_taken_over(app, idp, live_portal, make_user, db):
    make_user("dave", "agent")
    app.extensions["portal.oidc"].configs["test"]["link_by_username"] = False
    http = browser()
    back = to_provider_login(http, live_portal, "dave")
    refused = http.get(back.headers["Location"], timeout=10)
    assert refused.status_code == 401
    assert [e.details["reason"] for e in events(db, "auth.login_failed")] == ["username_taken"]
