"""Deny by default: every route makes an explicit access decision, and every permission is registered."""

import pytest

from portal.rbac import permissions
from portal.rbac.decorators import access_of, public, require


@pytest.fixture(scope="module")
def url_map(tmp_path_factory):
    from portal import create_app

    tmp = tmp_path_factory.mktemp("routes")
    app = create_app({"testing": True, "database_url": f"sqlite:///{tmp / 'p.db'}", "data_dir": str(tmp),
                      "secret_key": "routes", "session_cookie_secure": False})
    yield app
    app.extensions["portal.catalog"].close()
    app.extensions["portal.db"].dispose()


def routes(app):
    return [(rule, app.view_functions[rule.endpoint]) for rule in app.url_map.iter_rules()
            if rule.endpoint != "static"]  # Flask's own static files: public by nature


def test_every_route_has_an_explicit_access_decision(url_map):
    missing = sorted(f"{sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule}" for rule, view in routes(url_map)
                     if access_of(view) is None)
    assert missing == [], "routes without @require(...) or @public(reason): " + ", ".join(missing)


def test_every_named_permission_is_registered(url_map):
    named = {access_of(view)[1] for _, view in routes(url_map) if access_of(view)[0] == "permission"}
    assert named and all(permissions.is_known(name) for name in named)


def test_public_routes_are_the_known_few(url_map):
    public_rules = sorted(rule.rule for rule, view in routes(url_map) if access_of(view)[0] == "public")
    assert public_rules == sorted([
        "/login", "/login/totp", "/login/totp/enrol", "/logout", "/session/status", "/session/keepalive",
        "/.well-known/jwks.json", "/sso/handoff/redeem", "/api/v1/openapi.json", "/healthz", "/readyz",
    ])


def test_an_unknown_permission_fails_when_the_route_is_declared():
    with pytest.raises(ValueError, match="unknown permission 'adapters.bogus'"):
        require("adapters.bogus")


def test_a_public_mark_needs_a_reason():
    with pytest.raises(ValueError, match="say why"):
        public(" ")


def test_removing_a_guard_is_noticed(url_map):
    """What the first test catches: a view function as it would be without its decorator."""
    _, view = next((rule, view) for rule, view in routes(url_map) if rule.rule == "/admin/users")
    assert access_of(view) == ("permission", "users.manage")
    assert access_of(view.__wrapped__) is None


def test_registry_names_are_unique_and_described():
    names = [p.name for p in permissions.PERMISSIONS]
    assert len(names) == len(set(names)) and all(p.description for p in permissions.PERMISSIONS)
