"""Credentials belong to systems (issue 11, item 3): checked at registration and again at use.

A credential set is bound to one system (or one owner team) by ``[adapters]
credential_bindings``; a name not listed belongs to the system with the same id.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from portal.adapters import secrets, soap
from portal.adapters.base import Status
from portal.adapters.boundary import UNRESTRICTED, Boundary, Scope, running
from portal.adapters.registry import build_adapter
from portal.errors import BackendProtocolError, ConfigError
from tests.adapters.conftest import Reply
from tests.adapters.test_soap_adapter import ANSWER, WSDL

REPO = Path(__file__).resolve().parents[2]


def known(name: str) -> tuple[str, str]:
    """Every name has a username and password: a refusal can only come from the binding."""
    return "svc-" + name.lower(), "pw-" + name.lower()


GUARDED = Boundary(guarded=True, credential_bindings={"SHARED": "team:billing-team", "CRM": "system:crm"},
                   credentials=known)
OPEN = Boundary(credentials=known)  # unguarded, as a kind's own tests build adapters
EVIL = "credentials COMPLAINTS are bound to system complaints, not to evil"
LOGIN_PAGE = (b"<html><body><form action='/login'><input name='u'/><input name='p' type='password'/></form>"
              b"</body></html>")


def html_document(url: str = "http://127.0.0.1:1", **changes) -> dict:
    document = {
        "id": "evil", "name": "Evil", "kind": "html", "owner": "marketing-team", "url": url + "/c/{customer}",
        "fields": {"plan": {"path": "//p"}},
        "login": {"url": url + "/login", "username_field": "u", "password_field": "p", "credentials": "COMPLAINTS",
                  "login_page": "//input[@name='p']"},
    }
    document.update(changes)
    return document


def soap_document(wsdl: str, credentials: str = "COMPLAINTS", **changes) -> dict:
    document = {"id": "evil", "name": "Evil", "kind": "soap", "owner": "marketing-team", "wsdl_content": wsdl,
                "operation": "Get", "args": {"msisdn": "{customer}"}, "fields": {"plan": {"path": "plan.name"}},
                "wsse": {"credentials": credentials}}
    document.update(changes)
    return document


@pytest.fixture(autouse=True)
def fresh_soap_clients():
    soap.clear_client_cache()
    yield
    soap.clear_client_cache()


@pytest.fixture
def built():
    adapters = []
    yield adapters
    for adapter in adapters:
        adapter.close()


# -- the binding rule ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, system, owner, allowed", [
    ("COMPLAINTS", "complaints", None, True),  # a name not listed: the system of the same id
    ("complaints", "complaints", "x", True),
    ("COMPLAINTS", "evil", "customer-care-team", False),  # not even the owning team's other systems
    ("SHARED", "boss", "billing-team", True),  # bound to a team
    ("SHARED", "shared", None, False),  # ... and so no longer to the system of its name
    ("SHARED", "evil", "marketing-team", False),
    ("CRM", "crm", None, True),
    ("CRM", "evil", None, False),
])
def test_who_may_use_a_credential_set(name, system, owner, allowed):
    assert GUARDED.may_use_credentials(name, system, owner) is allowed
    assert (secrets.binding_problem(GUARDED, name, system, owner) is None) is allowed
    assert UNRESTRICTED.may_use_credentials(name, system, owner), "the unguarded boundary has no rule"


def test_the_refusal_says_whom_the_credentials_belong_to():
    assert secrets.binding_problem(GUARDED, "COMPLAINTS", "evil", "marketing-team") == EVIL
    assert secrets.binding_problem(GUARDED, "shared", "evil", "marketing-team") == (
        "credentials SHARED are bound to team billing-team, not to evil (team marketing-team)")


# -- at registration ---------------------------------------------------------------------------------

def test_another_systems_credentials_are_refused_at_registration_for_a_form_login():
    with pytest.raises(ConfigError) as info:
        build_adapter(html_document(), "adapter evil", GUARDED)
    assert (info.value.source, info.value.key, info.value.reason) == ("adapter evil", "login.credentials", EVIL)


def test_another_systems_credentials_are_refused_at_registration_for_ws_security(web):
    with pytest.raises(ConfigError) as info:
        build_adapter(soap_document(WSDL.format(address=web.url + "/svc", imports="")), "adapter evil", GUARDED)
    assert (info.value.key, info.value.reason) == ("wsse.credentials", EVIL)


def test_a_teams_credentials_are_accepted_for_its_systems_only(web, built):
    wsdl = WSDL.format(address=web.url + "/svc", imports="")
    built.append(build_adapter(soap_document(wsdl, "SHARED", id="billing2", owner="billing-team"), "a", GUARDED))
    with pytest.raises(ConfigError) as info:
        build_adapter(soap_document(wsdl, "SHARED"), "a", GUARDED)
    assert info.value.key == "wsse.credentials" and "bound to team billing-team" in info.value.reason


def test_the_demo_adapters_use_their_own_credentials(settings_overrides):
    from portal import create_app
    from tests.conftest import close_app

    app = create_app(settings_overrides)
    try:
        assert app.extensions["portal.boundary"].guarded
        assert not app.extensions["portal.catalog"].file_errors
    finally:
        close_app(app)


# -- at use ---------------------------------------------------------------------------------------------

def test_credentials_are_refused_at_use_under_a_guarded_scope():
    with running(Scope(GUARDED, "evil", "marketing-team")):
        with pytest.raises(BackendProtocolError) as info:
            secrets.credentials("COMPLAINTS")
    assert info.value.detail == EVIL
    with running(Scope(GUARDED, "complaints", None)):
        assert secrets.credentials("COMPLAINTS") == ("svc-complaints", "pw-complaints")
    with running(Scope(UNRESTRICTED, "evil", None)):
        assert secrets.credentials("COMPLAINTS")  # kinds' own tests and library callers


def test_an_adapter_built_without_the_check_cannot_post_another_systems_password(web, built):
    """Built unguarded (as a file deployed before a binding changed), run under the portal's boundary."""
    web.route("GET", "/c/13800000000", Reply(status=401, body=LOGIN_PAGE))
    adapter = build_adapter(html_document(web.url), "adapter evil", OPEN)
    built.append(adapter)
    adapter.boundary = GUARDED  # the boundary its fetch now runs under (Adapter.lookup makes it the scope)
    result = adapter.lookup("13800000000")
    assert (result.status, result.error) == (Status.ERROR, EVIL)
    assert [s.method for s in web.seen] == ["GET"], "the login form was posted"
    assert not any(b"pw-complaints" in s.body for s in web.seen)


def test_ws_security_is_refused_at_use_too(web, built):
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml; charset=utf-8"))
    adapter = build_adapter(soap_document(WSDL.format(address=web.url + "/svc", imports="")), "a", OPEN)
    built.append(adapter)
    assert adapter.lookup("13800000000").status is Status.OK  # unguarded: anything goes
    adapter.boundary = GUARDED
    result = adapter.lookup("13800000000")
    assert (result.status, result.error) == (Status.ERROR, EVIL)
    assert len([s for s in web.seen if s.method == "POST"]) == 1, "the password went out under the guarded scope"


def test_the_bound_system_logs_in(web, built):
    pages = iter([Reply(status=401, body=LOGIN_PAGE), Reply(body=b"<html><body><p>Gold</p></body></html>")])
    web.route("GET", "/c/13800000000", lambda seen: next(pages))
    web.route("POST", "/login", Reply(body=b"<html><body>welcome</body></html>"))
    adapter = build_adapter(html_document(web.url, id="complaints"), "adapter complaints", GUARDED)
    built.append(adapter)
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK and result.fields == {"plan": "Gold"}, result.error
    login = next(s for s in web.seen if s.method == "POST")
    assert b"pw-complaints" in login.body


# -- through the API: 422 naming the key ------------------------------------------------------------------

@pytest.fixture
def owner_token(app):
    from portal.accounts.service import create_user, issue_token

    with app.extensions["portal.db"].session() as session:
        create_user(session, "mkt", "a long password", ["system_owner"], teams=["marketing-team"])
        _, token = issue_token(session, "mkt")
        session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def loyalty(demo_adapters_dir):
    """``loyalty(**changes)``: the demo loyalty adapter (for the session's back office) as a new adapter points2."""

    def document(**changes) -> dict:
        loaded = tomllib.loads((demo_adapters_dir / "loyalty.toml").read_text())
        loaded.update(id="points2", name="Points (registered)", owner="marketing-team", **changes)
        return loaded

    return document


def test_registering_an_adapter_with_another_systems_credentials_is_422(client, owner_token, loyalty):
    login = {"url": loyalty()["url"].replace("/member", "/login"), "username_field": "u", "password_field": "p",
             "credentials": "COMPLAINTS", "login_page": "//input[@name='p']"}
    response = client.post("/api/v1/adapters", headers=owner_token, json=loyalty(login=login))
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["key"] == "login.credentials"
    assert problem["reason"] == "credentials COMPLAINTS are bound to system complaints, not to points2"


def test_a_binding_setting_lets_a_team_share_credentials(settings_overrides, make_app_client, loyalty):
    client, token = make_app_client({"adapters_credential_bindings": {"LOYALTY_SVC": "team:marketing-team"}})
    login = {"url": loyalty()["url"].replace("/member", "/login"), "username_field": "u", "password_field": "p",
             "credentials": "LOYALTY_SVC", "login_page": "//input[@name='p']"}
    assert client.post("/api/v1/adapters", headers=token, json=loyalty(login=login)).status_code == 201


@pytest.fixture
def make_app_client(settings_overrides):
    from portal import create_app, migrate
    from portal.accounts.service import create_user, issue_token
    from portal.db import get_database
    from tests.conftest import close_app

    apps = []

    def make(overrides: dict):
        app = create_app({**settings_overrides, **overrides})
        apps.append(app)
        with app.app_context():
            migrate.upgrade(get_database().engine)
        with app.extensions["portal.db"].session() as session:
            create_user(session, "mkt", "a long password", ["system_owner"], teams=["marketing-team"])
            _, token = issue_token(session, "mkt")
            session.commit()
        return app.test_client(), {"Authorization": f"Bearer {token}"}

    yield make
    for app in apps:
        close_app(app)


@pytest.mark.parametrize("change, key, reason", [
    ({"fields": {"tier": {"path": "//td", "mask": "bogus"}}}, "fields.tier.mask",
     "expected keep_last:N, keep_first:N or all"),
    ({"charset": "punycode"}, "charset", "'punycode' is not a text charset"),
    ({"tables": {"t": {"path": "count(//tr)", "columns": {"c": "td"}}}}, "tables.t.path",
     "must select the rows (elements), but computes a number"),
    ({"fields": {"tier": {"path": "//td[re:test(., '(a|aa)+$')]"}}}, "fields.tier.path",
     "invalid XPath: extension function re:test() is not allowed; use XPath 1.0 functions"),
    ({"params": {"q": "{msisdn}"}}, "params.q", "unknown placeholder {msisdn}: only {customer} is filled in"),
])
def test_invalid_masks_charsets_selectors_and_templates_are_422(client, owner_token, change, key, reason, loyalty):
    response = client.post("/api/v1/adapters", headers=owner_token, json=loyalty(**change))
    assert response.status_code == 422, response.get_json()
    assert (response.get_json()["key"], response.get_json()["reason"]) == (key, reason)


# -- the setting ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bindings, reason", [
    ({"1X": "system:a1"}, "'1X' is not a credential name"),
    ({"X": "system:A"}, "expected \"system:<adapter id>\" or \"team:<owner team>\""),
    ({"X": "root"}, "expected \"system:<adapter id>\""),
    ({"X": "team:"}, "expected \"system:<adapter id>\""),
])
def test_bindings_are_validated_when_the_portal_starts(bindings, reason):
    from portal.config import load_settings

    with pytest.raises(ConfigError) as info:
        load_settings({"adapters_credential_bindings": bindings}, environ={})
    assert info.value.key == "adapters_credential_bindings" and reason in info.value.reason


@pytest.mark.parametrize("text", ['{"shared": "team:billing-team", "CRM": "system:crm"}',
                                  "shared=team:billing-team, CRM=system:crm"])
def test_bindings_from_the_environment(text):
    from portal.config import load_settings

    settings = load_settings(environ={"PORTAL_ADAPTERS_CREDENTIAL_BINDINGS": text})
    assert settings.adapters_credential_bindings == {"SHARED": "team:billing-team", "CRM": "system:crm"}


def test_the_apps_boundary_carries_the_bindings(settings_overrides):
    from portal import create_app
    from tests.conftest import close_app

    app = create_app({**settings_overrides, "adapters_credential_bindings": {"COMPLAINTS": "team:customer-care-team"}})
    try:
        boundary = app.extensions["portal.boundary"]
        assert boundary.binding_of("complaints") == "team:customer-care-team"
        assert not app.extensions["portal.catalog"].file_errors  # complaints is customer-care-team's
    finally:
        close_app(app)
