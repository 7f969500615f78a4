"""Quick channels that sign the operator in, end to end: the portal served over HTTP, the twelve simulated
systems verifying its hand-offs (token mode) or taking its form post (form mode)."""

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.demo.catalogue import SYSTEM_IDS

N = "13800000000"
TOKEN_SYSTEMS = [s for s in SYSTEM_IDS if s != "complaints"]


def events(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def alice(make_user, browser, joined):
    make_user("alice", "agent")
    assert browser.login("alice").status_code == 302
    return browser


def screen_url(backoffice, system_id, number=N):
    return backoffice.systems[system_id].ui_url(number)


def base(backoffice, system_id):
    """Where the system listens in the session's back office (a free port)."""
    return backoffice.systems[system_id].base_url


def test_without_a_hand_off_a_joined_system_shows_its_login_page(joined, browser):
    for system_id in ("boss", "smsc", "complaints"):
        response = browser.get(screen_url(joined, system_id))
        assert response.status_code == 401 and 'id="login"' in response.text
        assert 'id="fields"' not in response.text


@pytest.mark.parametrize("system_id", SYSTEM_IDS)
def test_every_system_opens_signed_in_on_the_customers_screen(alice, joined, db, system_id):
    landed = alice.open(system_id, N)
    assert landed.status_code == 200, landed.text[:400]
    assert landed.url == screen_url(joined, system_id)
    assert 'id="fields"' in landed.text and f'<span id="customer">{N}</span>' in landed.text
    expected = "portal-svc" if system_id == "complaints" else "alice"
    assert f'id="operator">{expected}<' in landed.text
    [opened] = events(db, "system.open")
    assert opened.target == system_id and opened.customer == N
    assert alice.get(screen_url(joined, system_id)).status_code == 200  # the system's own session holds


def test_token_hand_off_page_is_a_short_lived_signed_token_posted_by_a_static_script(alice, joined):
    action, fields, response = alice.handoff_form("boss", N)
    assert action == f"{base(joined, 'boss')}/sso" and fields["next"] == f"/ui/customer/{N}"
    csp = response.headers["Content-Security-Policy"]
    assert f"form-action 'self' {base(joined, 'boss')}" in csp and "script-src 'self'" in csp
    assert "<script>" not in response.text and "sso-handoff.js" in response.text
    assert response.headers["Cache-Control"] == "no-store"
    from joserfc import jws

    header = jws.extract_compact(fields["token"].encode()).protected
    claims = jws.extract_compact(fields["token"].encode()).payload
    import json

    claims = json.loads(claims)
    assert header["alg"] == "ES256" and header["kid"]
    assert claims["aud"] == "boss" and claims["sub"] == "alice" and claims["customer"] == N
    assert 0 < claims["exp"] - claims["iat"] <= 60 and claims["jti"]


def test_form_mode_posts_the_credentials_to_the_systems_login_form(alice, joined):
    action, fields, response = alice.handoff_form("complaints", N)
    assert action == f"{base(joined, 'complaints')}/login"
    assert fields["username"] == "portal-svc" and fields["next"] == f"/ui/customer/{N}"
    assert f"form-action 'self' {base(joined, 'complaints')}" in response.headers["Content-Security-Policy"]


def test_form_mode_uses_the_operators_own_credentials_from_the_vault(app, alice, joined, db):
    vault = app.extensions["portal.credentials"]
    vault.store("complaints", "portal-svc", "complaints-demo", operator="alice")
    from portal.sso.models import SystemCredential

    row = db.scalar(select(SystemCredential).where(SystemCredential.operator == "alice"))
    assert b"complaints-demo" not in row.secret  # encrypted at rest
    _, fields, _ = alice.handoff_form("complaints", N)
    assert fields["password"] == "complaints-demo"
    vault.store("complaints", "portal-svc", "wrong-password", operator="alice")
    landed = alice.open("complaints", N)
    assert 'id="login-error"' in landed.text  # the system's own answer to bad credentials


def test_none_mode_is_a_plain_link(app, alice, joined, db, monkeypatch):
    from portal.sso import quick

    class Plain:
        id = "boss"

        class config:
            name = "BOSS"

            class deep_link:
                sso = "none"

    with app.test_request_context():
        response = quick.hand_over(Plain, f"{base(joined, 'boss')}/ui/customer/1", "1", None, 0)
    assert response.status_code == 303 and response.headers["Location"] == f"{base(joined, 'boss')}/ui/customer/1"


def test_a_replayed_token_is_refused(alice, joined):
    action, fields, _ = alice.handoff_form("boss", N)
    assert alice.submit(action, fields).status_code == 200
    replay = alice.submit(action, fields)
    assert replay.status_code == 403 and "replayed" in replay.text


def test_a_token_replayed_at_a_second_system_process_is_refused_by_the_portal(alice, joined):
    """Single use holds across receivers: a fresh receiver (another process of the system) asks the portal."""
    from portal.demo.catalogue import get_spec
    from portal.demo.sso_receiver import Receiver, Refused

    action, fields, _ = alice.handoff_form("boss", N)
    assert alice.submit(action, fields).status_code == 200
    other = Receiver(get_spec("boss"))
    other.join(alice.base)
    with pytest.raises(Refused) as refused:
        other.accept(fields["token"])
    assert refused.value.reason == "replayed"


def test_a_token_for_another_system_is_refused(alice, joined):
    _, fields, _ = alice.handoff_form("boss", N)
    response = alice.submit(f"{base(joined, 'payments')}/sso", fields)
    assert response.status_code == 403 and "wrong_audience" in response.text


def test_a_forged_token_is_refused(alice, joined):
    from joserfc import jwk, jwt

    _, fields, _ = alice.handoff_form("boss", N)
    import json

    from joserfc import jws

    compact = jws.extract_compact(fields["token"].encode())
    claims = json.loads(compact.payload)
    claims["sub"] = "mallory"
    forger = jwk.ECKey.generate_key("P-256", private=True, parameters={"kid": compact.protected["kid"]})
    forged = jwt.encode({"alg": "ES256", "kid": compact.protected["kid"]}, claims, forger)
    response = alice.submit(f"{base(joined, 'boss')}/sso", {**fields, "token": forged})
    assert response.status_code == 403 and "bad_signature" in response.text
    tampered = fields["token"].rsplit(".", 1)[0] + ".AAAA"
    assert alice.submit(f"{base(joined, 'boss')}/sso", {**fields, "token": tampered}).status_code == 403
    none_alg = jwt.encode({"alg": "HS256"}, claims, jwk.OctKey.generate_key(256))
    assert alice.submit(f"{base(joined, 'boss')}/sso", {**fields, "token": none_alg}).status_code == 403
    assert alice.submit(f"{base(joined, 'boss')}/sso", {**fields, "token": "garbage"}).status_code == 403


def test_an_expired_token_is_refused(alice, joined, clock):
    clock.advance(-120)  # issued two minutes ago (portal side), so long expired now
    _, fields, _ = alice.handoff_form("boss", N)
    clock.advance(120)
    response = alice.submit(f"{base(joined, 'boss')}/sso", fields)
    assert response.status_code == 403 and "expired" in response.text


def test_logout_makes_outstanding_hand_offs_invalid(alice, joined):
    action, fields, _ = alice.handoff_form("boss", N)
    assert alice.logout().status_code == 302
    response = alice.submit(action, fields)
    assert response.status_code == 403 and "session_ended" in response.text


def test_ending_the_operators_sessions_invalidates_hand_offs(alice, joined, db):
    from portal.accounts import admin
    from portal.audit.record import Actor

    action, fields, _ = alice.handoff_form("boss", N)
    admin.end_sessions(db, Actor("root"), "alice")
    db.commit()  # the test is the edge of this unit of work
    assert alice.submit(action, fields).status_code == 403


def test_key_rotation_keeps_tokens_in_flight_valid(app, alice, joined):
    old_action, old_fields, _ = alice.handoff_form("boss", N)
    old_kid = app.extensions["portal.keyring"].active()[0].kid
    new_kid = app.extensions["portal.keyring"].rotate()
    published = {key["kid"] for key in alice.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, new_kid} <= published
    action, fields, _ = alice.handoff_form("payments", N)
    assert alice.submit(action, fields).status_code == 200  # signed with the new key
    assert alice.submit(old_action, old_fields).status_code == 200  # signed with the old one, still in flight


def test_jwks_publishes_public_keys_only(alice):
    keys = alice.get("/.well-known/jwks.json").json()["keys"]
    assert keys and all("d" not in key for key in keys)
    assert all(key["kty"] == "EC" and key["alg"] == "ES256" for key in keys)


def test_the_quick_channel_needs_the_open_permission(app, make_user, browser, joined, db):
    from portal.accounts.models import Role

    role = Role(name="viewer", permissions=["customer.lookup", "system.*.view"], field_grants={"*": "show"})
    db.add(role)
    db.commit()
    make_user("vera", "viewer")
    browser.login("vera")
    assert browser.get(f"/go/boss/{N}", allow_redirects=False).status_code == 403


def test_redeem_refusals_are_problem_documents_and_audited(client, db):
    response = client.post("/sso/handoff/redeem", data={"token": "x.y.z"})
    assert response.status_code == 403 and response.content_type == "application/problem+json"
    assert response.get_json()["reason"] in ("malformed", "bad_signature")
    assert events(db, "sso.handoff_refused")


def test_with_a_vault_key_adapters_read_service_accounts_from_the_store(settings_overrides):
    from portal import create_app, migrate
    from portal.adapters import secrets
    from portal.adapters.boundary import Scope, running
    from portal.db import get_database
    from portal.sso.vault import Vault

    app = create_app({**settings_overrides, "vault_key": Vault.new_key()})
    try:
        with app.app_context():
            migrate.upgrade(get_database().engine)
        app.extensions["portal.credentials"].store("complaints", "svc-from-vault", "s3cret")
        # What an adapter of this app asks during its fetch: the store its boundary lends it.
        with running(Scope(app.extensions["portal.boundary"], "complaints", None)):
            assert secrets.credentials("COMPLAINTS") == ("svc-from-vault", "s3cret")
        assert secrets.credentials("COMPLAINTS") == ("portal-svc", "complaints-demo")  # outside: the environment
        app.extensions["portal.credentials"].remove("complaints")
        with running(Scope(app.extensions["portal.boundary"], "complaints", None)):
            assert secrets.credentials("COMPLAINTS") == ("portal-svc", "complaints-demo")  # the environment
    finally:
        app.extensions["portal.catalog"].close()
        app.extensions["portal.db"].dispose()


def test_a_wrong_vault_key_is_a_clear_configuration_error(settings_overrides):
    from portal import create_app
    from portal.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        create_app({**settings_overrides, "vault_key": "not-a-key"})
    assert "PORTAL_VAULT_KEY" in str(error.value)
