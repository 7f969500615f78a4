"""A second factor (TOTP) required for chosen roles: enrolment at first sign-in, then a code every time."""

import re

import pyotp
import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token


@pytest.fixture
def mfa_app(settings_overrides):
    from portal import create_app, migrate
    from portal.db import get_database

    app = create_app({**settings_overrides, "mfa_required_roles": "admin,auditor"})
    with app.app_context():
        migrate.upgrade(get_database().engine)
    yield app
    app.extensions["portal.db"].dispose()


def sign_in(client, username):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_token(page)})


def post_code(client, path, code):
    page = client.get(path).get_data(as_text=True)
    return client.post(path, data={"code": code, "csrf_token": csrf_token(page)}), page


def users(app, *specs):
    from portal.accounts.service import create_user

    with app.extensions["portal.db"].session() as db:
        for name, role in specs:
            create_user(db, name, PASSWORD, [role])
        db.commit()


def test_required_role_enrols_then_needs_a_code_every_time(mfa_app, clock):
    users(mfa_app, ("ada", "admin"))
    client = mfa_app.test_client()
    response = sign_in(client, "ada")
    assert response.headers["Location"] == "/login/totp/enrol"
    assert client.get("/admin/users").status_code == 302  # the password alone does not sign in
    page = client.get("/login/totp/enrol").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert "otpauth://totp/" in page and "issuer=Service" in page
    wrong, _ = post_code(client, "/login/totp/enrol", "000000")
    assert wrong.status_code == 401
    ok, _ = post_code(client, "/login/totp/enrol", pyotp.TOTP(secret).now())
    assert ok.status_code == 302 and client.get("/admin/users").status_code == 200

    clock.advance(60)
    other = mfa_app.test_client()
    assert sign_in(other, "ada").headers["Location"] == "/login/totp"
    assert other.get("/admin/users").status_code == 302
    bad, _ = post_code(other, "/login/totp", "123456")
    assert bad.status_code == 401
    good, _ = post_code(other, "/login/totp", pyotp.TOTP(secret).at(clock.now()))
    assert good.status_code == 302 and other.get("/admin/users").status_code == 200
    with mfa_app.extensions["portal.db"].session() as db:
        [login] = [e for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login"))
                   if e.details.get("mfa")][-1:]
        assert login.details["mfa"] == "totp"


def test_a_code_cannot_be_used_twice(mfa_app, clock):
    users(mfa_app, ("ada", "admin"))
    totp = mfa_app.extensions["portal.totp"]
    with mfa_app.extensions["portal.db"].session() as db:
        from portal.accounts.service import find_user

        uid = find_user(db, "ada").id
    secret, _ = totp.begin(uid, "ada")
    code = pyotp.TOTP(secret).at(clock.now())
    assert totp.verify(uid, code, confirm=True)
    assert not totp.verify(uid, code)


def test_roles_not_listed_sign_in_with_the_password(mfa_app):
    users(mfa_app, ("alice", "agent"))
    client = mfa_app.test_client()
    assert sign_in(client, "alice").headers["Location"] == "/"


def test_code_step_is_throttled(mfa_app, clock):
    users(mfa_app, ("ada", "auditor"))
    totp = mfa_app.extensions["portal.totp"]
    with mfa_app.extensions["portal.db"].session() as db:
        from portal.accounts.service import find_user

        uid = find_user(db, "ada").id
    secret, _ = totp.begin(uid, "ada")
    assert totp.verify(uid, pyotp.TOTP(secret).at(clock.now()), confirm=True)
    client = mfa_app.test_client()
    sign_in(client, "ada")
    codes = [post_code(client, "/login/totp", "000000")[0].status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_secrets_are_encrypted_at_rest(mfa_app):
    users(mfa_app, ("ada", "admin"))
    from portal.sso.models import TotpFactor

    with mfa_app.extensions["portal.db"].session() as db:
        from portal.accounts.service import find_user

        uid = find_user(db, "ada").id
        secret, _ = mfa_app.extensions["portal.totp"].begin(uid, "ada")
        assert secret.encode() not in db.get(TotpFactor, uid).secret


def test_a_password_alone_cannot_replace_an_enrolled_factor(mfa_app, clock):
    users(mfa_app, ("ada", "admin"))
    totp = mfa_app.extensions["portal.totp"]
    with mfa_app.extensions["portal.db"].session() as db:
        from portal.accounts.service import find_user

        uid = find_user(db, "ada").id
    secret, _ = totp.begin(uid, "ada")
    assert totp.verify(uid, pyotp.TOTP(secret).at(clock.now()), confirm=True)
    client = mfa_app.test_client()
    sign_in(client, "ada")  # the password step only
    response = client.get("/login/totp/enrol")
    assert response.status_code == 302 and response.headers["Location"] == "/login/totp"
    assert totp.enrolled(uid)
    clock.advance(30)
    post_code(client, "/login/totp", pyotp.TOTP(secret).at(clock.now()))
    page = client.get("/login/totp/enrol").get_data(as_text=True)
    assert 'id="totp-enrolled"' in page and "totp-secret" not in page
    assert totp.enrolled(uid)
