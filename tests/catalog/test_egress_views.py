"""``/admin/egress`` and ``GET /api/v1/egress`` (read-only, adapters.manage), and egress refusals at registration
through the catalogue's page and API (422 naming the key)."""

from __future__ import annotations

import pytest

PASSWORD = "a long password"


@pytest.fixture
def settings_overrides(settings_overrides):
    # A Redis on loopback and a web server on every interface: the portal's own services to protect; and a
    # rule for every IPv4 address and port, which must not reach loopback, link-local or metadata addresses.
    return {**settings_overrides, "redis_url": "redis://127.0.0.1:6379/0", "serve_addresses": ["0.0.0.0:5000"],
            "session_store": "database",
            "egress_allow": [*settings_overrides["egress_allow"], {"name": "wide", "cidrs": ["0.0.0.0/0"]}]}


@pytest.fixture
def people(app):
    from portal.accounts.service import create_user, issue_token

    tokens = {}
    with app.extensions["portal.db"].session() as session:
        for name, roles, teams in [("admin1", ["admin"], []), ("agent1", ["agent"], []),
                                   ("mkt", ["system_owner"], ["marketing-team"])]:
            create_user(session, name, PASSWORD, roles, teams=teams)
            _, tokens[name] = issue_token(session, name)
        session.commit()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admins_see_the_rules_the_refused_ranges_and_the_portals_own_addresses(client, login, people,
                                                                                 settings_overrides):
    assert login("admin1", PASSWORD).status_code == 302
    page = client.get("/admin/egress")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Egress policy" in html
    back_office = settings_overrides["egress_allow"][0]["ports"]  # the session back office's free ports
    assert "simulated back office" in html and back_office in html and "127.0.0.1" in html
    assert "169.254.169.254/32" in html and "a cloud metadata address" in html and "fe80::/10" in html
    assert "Redis" in html and "6379" in html
    assert "web server" in html and "every address of this machine" in html
    assert 'href="/admin/egress"' in client.get("/admin/adapters").get_data(as_text=True)


@pytest.mark.parametrize("who", ["agent1", "mkt"])
def test_the_page_needs_adapters_manage(client, login, people, who):
    assert login(who, PASSWORD).status_code == 302
    assert client.get("/admin/egress").status_code == 403


def test_the_api_shows_the_same_to_admins_only(client, people, settings_overrides):
    response = client.get("/api/v1/egress", headers=bearer(people["admin1"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["enforced"] is True and body["boundary"]["guarded"] is True
    egress = body["egress"]
    assert egress["default"] == "deny"
    assert egress["rules"] == [{"label": 'rule "simulated back office"', "hosts": ["127.0.0.1"], "cidrs": [],
                                "ports": settings_overrides["egress_allow"][0]["ports"], "teams": []},
                               {"label": 'rule "wide"', "hosts": [], "cidrs": ["0.0.0.0/0"], "ports": "every port",
                                "teams": []}]
    assert {"network": "127.0.0.0/8", "what": "a loopback address"} in egress["refused"]
    own = {(entry["what"], entry["host"], entry["port"]) for entry in egress["own_addresses"]}
    expected = {("Redis", "127.0.0.1", 6379), ("web server", "*", 5000)}
    if settings_overrides["database_url"].startswith("postgresql"):  # the PostgreSQL the tests run against
        expected.add(("database", "127.0.0.1", 5432))
    assert own == expected
    assert client.get("/api/v1/egress", headers=bearer(people["agent1"])).status_code == 403
    assert client.get("/api/v1/egress", headers=bearer(people["mkt"])).status_code == 403
    assert client.get("/api/v1/egress").status_code == 401


SOCKET_TO_REDIS = {"id": "sneaky", "name": "Sneaky", "kind": "socket", "owner": "marketing-team",
                   "host": "127.0.0.1", "port": 6379, "request": "SET k {customer}", "parse": "kv",
                   "fields": {"ok": {"path": "ok"}}}


CONTROL = "the back office's fault-control port"  # on loopback, and in no rule: the adapters' rule lists the systems only


@pytest.mark.parametrize(("changes", "key", "reason"), [
    ({}, "host", "refused by the egress policy: 127.0.0.1:6379 is the portal's own Redis"),
    ({"port": 5000}, "host", "refused by the egress policy: 127.0.0.1:5000 is the portal's own web server"),
    ({"port": CONTROL}, "host", ("refused by the egress policy: 127.0.0.1 is a loopback address, "
                                 "and no [egress] rule lists it with port {control}")),
    ({"host": "169.254.169.254", "port": 80}, "host", "169.254.169.254 is a cloud metadata address"),
    ({"host": "localhost", "port": CONTROL}, "host", "localhost resolves to 127.0.0.1, a loopback address"),
])
def test_registering_a_refused_destination_is_a_422_naming_the_key(client, people, backoffice_session, changes, key,
                                                                   reason):
    control = backoffice_session.addresses.control_port
    changes = {name: control if value == CONTROL else value for name, value in changes.items()}
    reason = reason.format(control=control)
    response = client.post("/api/v1/adapters", json={**SOCKET_TO_REDIS, **changes}, headers=bearer(people["mkt"]))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["key"] == key and reason in body["reason"]
    assert client.get("/api/v1/adapters/sneaky", headers=bearer(people["mkt"])).status_code == 404


def test_registering_through_the_page_shows_the_refusal(client, login, people, csrf):
    assert login("mkt", PASSWORD).status_code == 302
    page = client.get("/admin/adapters/new").get_data(as_text=True)
    text = ('id = "meta"\nname = "Meta"\nkind = "html"\nurl = "http://169.254.169.254/latest/meta-data/"\n'
            '[fields.x]\npath = "//x"\n')
    response = client.post("/admin/adapters/new", data={"document": text, "csrf_token": csrf(page)})
    assert response.status_code == 422
    assert "url: refused by the egress policy: 169.254.169.254 is a cloud metadata address" in \
        response.get_data(as_text=True)
