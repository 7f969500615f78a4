"""Every built-in role against every page and API endpoint: allowed or denied, on the server."""


import pytest

from portal.rbac import permissions
from portal.rbac.policy import permits

ROLES = ["agent", "supervisor", "admin", "auditor", "system_owner"]
BUILTIN_PERMISSIONS = permissions.builtin_grants()
# Permissions no route requires by itself; where each one is tested instead.
NOT_A_ROUTE = {"adapters.raw": "the test console's raw answer: tests/catalog/test_lifecycle.py",
               "system.*.view": "one panel of the combined view each: tests/rbac/test_data_layers.py"}
ANY = None  # any signed-in operator
ADAPTER_READERS = ("adapters.manage", "adapters.own", "adapters.approve")

# (method, path, JSON body, permission(s) needed — any of them). Requests are chosen so that an allowed
# caller gets a harmless answer (400/404/409/422 or a page), never a change to the data.
API = [
    ("GET", "/api/v1/customers/not-a-number", None, ("customer.lookup",)),
    ("POST", "/api/v1/customers/13800000000/reveal", {}, ("customer.reveal",)),
    ("GET", "/api/v1/adapters", None, ADAPTER_READERS),
    ("POST", "/api/v1/adapters", {}, ADAPTER_READERS),
    ("GET", "/api/v1/adapters/boss", None, ADAPTER_READERS),
    ("PUT", "/api/v1/adapters/boss", {}, ADAPTER_READERS),
    ("DELETE", "/api/v1/adapters/nosuch", None, ADAPTER_READERS),
    ("GET", "/api/v1/adapters/boss/versions", None, ADAPTER_READERS),
    # boss belongs to no team of the matrix's owner: admins and approvers may test it
    ("POST", "/api/v1/adapters/boss/test", {"number": "x"}, ("adapters.manage", "adapters.approve")),
    ("POST", "/api/v1/adapters/nosuch/versions/1/approve", None, ("adapters.approve",)),
    ("POST", "/api/v1/adapters/nosuch/versions/1/promote", None, ADAPTER_READERS),
    ("POST", "/api/v1/adapters/nosuch/versions/1/retire", None, ADAPTER_READERS),
    ("POST", "/api/v1/adapters/nosuch/rollback", {}, ADAPTER_READERS),
    ("PUT", "/api/v1/adapters/nosuch/shadow", {"version": 1}, ADAPTER_READERS),
    ("DELETE", "/api/v1/adapters/nosuch/shadow", None, ADAPTER_READERS),
    ("GET", "/api/v1/adapters/boss/shadow", None, ADAPTER_READERS),
    ("GET", "/api/v1/users", None, ("users.manage",)),
    ("POST", "/api/v1/users", {}, ("users.manage",)),
    ("GET", "/api/v1/users/nosuch", None, ("users.manage",)),
    ("PATCH", "/api/v1/users/nosuch", {"region": "x"}, ("users.manage",)),
    ("DELETE", "/api/v1/users/nosuch", None, ("users.manage",)),
    ("DELETE", "/api/v1/users/nosuch/sessions", None, ("users.manage",)),
    ("POST", "/api/v1/users/import", {}, ("users.manage",)),
    ("GET", "/api/v1/roles", None, ("roles.manage",)),
    ("POST", "/api/v1/roles", {}, ("roles.manage",)),
    ("GET", "/api/v1/roles/agent", None, ("roles.manage",)),
    ("PUT", "/api/v1/roles/nosuch", {}, ("roles.manage",)),
    ("DELETE", "/api/v1/roles/nosuch", None, ("roles.manage",)),
    ("GET", "/api/v1/audit", None, ("audit.read",)),
    ("GET", "/api/v1/audit/1", None, ("audit.read",)),
    ("GET", "/api/v1/audit/verify", None, ("audit.read",)),
    ("GET", "/api/v1/audit/export?format=none", None, ("audit.export",)),
    ("GET", "/api/v1/stats", None, ("stats.read",)),
    ("GET", "/api/v1/stats/operations?by=day", None, ("stats.read",)),
    ("GET", "/api/v1/stats/logins", None, ("stats.read",)),
    ("GET", "/api/v1/stats/lookups", None, ("stats.read",)),
    ("GET", "/api/v1/stats/outliers", None, ("stats.read",)),
    ("GET", "/api/v1/monitor", None, ("monitor.read",)),
    ("GET", "/api/v1/monitor/systems/boss", None, ("monitor.read",)),
    ("GET", "/api/v1/monitor/maintenance", None, ("monitor.read",)),
    ("GET", "/api/v1/monitor/maintenance/999", None, ("monitor.read",)),
    # The maintenance service decides: monitor.manage, or adapters.own for one's own systems ({} is a 422).
    ("POST", "/api/v1/monitor/maintenance", {}, ("monitor.manage", "adapters.own")),
    ("DELETE", "/api/v1/monitor/maintenance/999", None, ("monitor.manage", "adapters.own")),
    ("GET", "/api/v1/egress", None, ("adapters.manage",)),
    ("GET", "/api/v1/sso/credentials", None, ADAPTER_READERS),
    # boss belongs to no team of the matrix's owner: only adapters.manage reaches the service's checks
    ("PUT", "/api/v1/sso/credentials/boss/*", {}, ("adapters.manage",)),
    ("DELETE", "/api/v1/sso/credentials/boss/*", None, ("adapters.manage",)),
]
PAGES = [
    ("/", ANY),
    ("/customers?number=not-a-number", ("customer.lookup",)),
    ("/go/boss/13800000000", ("system.boss.open",)),
    ("/admin/adapters", ADAPTER_READERS),
    ("/admin/adapters/new", ADAPTER_READERS),
    ("/admin/adapters/boss", ADAPTER_READERS),
    ("/admin/credentials", ADAPTER_READERS),
    ("/admin/egress", ("adapters.manage",)),
    ("/admin/users", ("users.manage",)),
    ("/admin/users/new", ("users.manage",)),
    ("/admin/users/matrix-admin", ("users.manage",)),
    ("/admin/users/import", ("users.manage",)),
    ("/admin/explain", ("users.manage",)),
    ("/admin/roles", ("roles.manage",)),
    ("/admin/roles/new", ("roles.manage",)),
    ("/admin/roles/agent", ("roles.manage",)),
    ("/login/totp/enrol", ANY),  # every operator may enrol a second factor
    ("/audit", ("audit.read",)),
    ("/audit/1", ("audit.read",)),
    ("/audit/verify", ("audit.read",)),
    ("/audit/export?format=none", ("audit.export",)),
    ("/stats", ("stats.read",)),
    ("/monitor", ("monitor.read",)),
    ("/monitor/systems/boss", ("monitor.read",)),
]


def allowed_for(role: str, needed) -> bool:
    return needed is ANY or any(permits(BUILTIN_PERMISSIONS[role], p) for p in needed)


@pytest.fixture(scope="module")
def portal(tmp_path_factory, postgres_url, reset_postgres, demo_adapters_dir, demo_egress_allow):
    """One portal with one operator (session and token) per built-in role, shared by the matrix."""
    from portal import create_app, migrate
    from portal.accounts.service import create_user, issue_token
    from portal.db import get_database

    tmp = tmp_path_factory.mktemp("matrix")
    url = postgres_url or f"sqlite:///{tmp / 'portal.db'}"  # under xdist: this worker's own PostgreSQL database
    if postgres_url:
        reset_postgres(postgres_url)
    app = create_app({"testing": True, "database_url": url, "data_dir": str(tmp), "secret_key": "matrix",
                      "session_cookie_secure": False, "adapters_dir": str(demo_adapters_dir),
                      "egress_allow": demo_egress_allow()})
    tokens, clients = {}, {}
    with app.app_context():
        migrate.upgrade(get_database().engine)
        with get_database().session() as session:
            for role in ROLES:
                create_user(session, f"matrix-{role}", "matrix password", [role])
                _, tokens[role] = issue_token(session, f"matrix-{role}")
            session.commit()
    for role in ROLES:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        response = client.post("/login", data={"username": f"matrix-{role}", "password": "matrix password",
                                               "csrf_token": token})
        assert response.status_code == 302
        clients[role] = client
    yield app, tokens, clients
    app.extensions["portal.catalog"].close()
    app.extensions["portal.db"].dispose()


def test_every_registered_permission_is_in_the_matrix():
    in_matrix = {p for *_, needed in [*API, *PAGES] if needed for p in needed}
    covered = {name for name in permissions.names()
               if any(permits([name], wanted) or permits([wanted], name) for wanted in in_matrix)}
    assert set(permissions.names()) - covered == set(NOT_A_ROUTE)


def test_builtin_roles_match_the_matrix(portal):
    from portal.rbac import roles as role_admin

    app, _, _ = portal
    with app.extensions["portal.db"].session() as session:
        actual = {role.name: set(role.permissions) for role in role_admin.list_roles(session)}
    assert actual == BUILTIN_PERMISSIONS


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "needed"), API, ids=[f"{m} {p}" for m, p, _, _ in API])
def test_api(portal, role, method, path, body, needed):
    app, tokens, _ = portal
    response = app.test_client().open(path, method=method, json=body,
                                      headers={"Authorization": f"Bearer {tokens[role]}"})
    if allowed_for(role, needed):
        assert response.status_code not in (401, 403), response.get_json()
    else:
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["code"] == "permission_denied"


@pytest.mark.parametrize(("method", "path", "body", "needed"), API, ids=[f"{m} {p}" for m, p, _, _ in API])
def test_api_without_credentials_is_401(portal, method, path, body, needed):
    app, _, _ = portal
    response = app.test_client().open(path, method=method, json=body)
    assert response.status_code in (401, 400)  # 400: unsafe cookie-less request refused by CSRF first
    if method == "GET":
        assert response.status_code == 401


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "needed"), PAGES, ids=[p for p, _ in PAGES])
def test_pages(portal, role, path, needed):
    _, _, clients = portal
    response = clients[role].get(path)
    if allowed_for(role, needed):
        assert response.status_code not in (401, 403)
        assert not response.headers.get("Location", "").startswith("/login")
    else:
        assert response.status_code == 403


@pytest.mark.parametrize(("path", "needed"), PAGES, ids=[p for p, _ in PAGES])
def test_pages_send_strangers_to_the_login(portal, path, needed):
    app, _, _ = portal
    response = app.test_client().get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", ROLES)
def test_menu_shows_only_what_the_role_may_open(portal, role):
    _, _, clients = portal
    page = clients[role].get("/customers?number=x" if role in ("agent", "supervisor") else "/admin/explain")
    html = page.get_data(as_text=True)
    for link, needed in [('href="/admin/users"', ("users.manage",)), ('href="/admin/roles"', ("roles.manage",)),
                         ('href="/admin/adapters"', ADAPTER_READERS), ('id="top-number"', ("customer.lookup",)),
                         ('href="/audit"', ("audit.read",)), ('href="/stats"', ("stats.read",)),
                         ('href="/monitor"', ("monitor.read",))]:
        assert (link in html) is allowed_for(role, needed), (role, link)
