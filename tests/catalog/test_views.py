"""Admin pages for adapters: list, register from TOML, edit, test console, delete."""

import pytest

KNOWN = "13800000000"


@pytest.fixture
def signed_in_owner(app, login, db):
    from portal.accounts.service import create_user

    create_user(db, "mkt", "a long password", ["system_owner"], teams=["marketing-team"])
    create_user(db, "bill", "a long password", ["system_owner"], teams=["billing-team"])
    db.commit()
    assert login("mkt", "a long password").status_code == 302


def register(client, csrf, text):
    page = client.get("/admin/adapters/new").get_data(as_text=True)
    return client.post("/admin/adapters/new", data={"document": text, "csrf_token": csrf(page)})


def test_owner_lists_registers_and_edits(client, signed_in_owner, csrf, points_toml):
    listing = client.get("/admin/adapters").get_data(as_text=True)
    assert "boss" in listing and "Register a new adapter" in listing

    response = register(client, csrf, points_toml())
    assert response.status_code == 302 and response.headers["Location"] == "/admin/adapters/points2"
    page = client.get("/admin/adapters/points2").get_data(as_text=True)
    assert "newest version 1, changed by mkt" in page and "Save as a new version" in page
    assert "not live</strong>: agents do not see this system" in page

    edited = points_toml(name="Points club")
    response = client.post("/admin/adapters/points2", data={"document": edited, "csrf_token": csrf(page)})
    assert response.status_code == 302
    page = client.get("/admin/adapters/points2").get_data(as_text=True)
    assert "Points club" in page and "version 2" in page
    assert page.count("<td>mkt</td>") == 2  # two versions in the history
    assert page.count('<span class="badge state-draft">draft</span>') == 2


def test_broken_toml_and_bad_keys_are_shown_and_the_text_kept(client, signed_in_owner, csrf, points_toml):
    response = register(client, csrf, "id = ")
    assert response.status_code == 422 and "not valid TOML" in response.get_data(as_text=True)
    bad = points_toml().replace("timeout_s = 2.0", "timeout_s = 2.0\ncolour = 'blue'")
    response = register(client, csrf, bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "colour: unknown key" in page and "colour = &#39;blue&#39;" in page


@pytest.mark.backoffice
def test_test_console_shows_masked_fields_and_no_raw_answer_to_owners(client, signed_in_owner, csrf, backoffice, points_toml):
    from portal.demo.data import loyalty

    register(client, csrf, points_toml())
    page = client.get("/admin/adapters/points2").get_data(as_text=True)
    response = client.post("/admin/adapters/points2/test", data={"number": KNOWN, "csrf_token": csrf(page)})
    result = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'badge status-ok' in result and "Raw answer" not in result
    assert "shown only to holders of adapters.raw" in result and "Masked for your roles: member_name" in result
    assert loyalty(KNOWN).name not in result  # the member's name is PII: masked for an owner


@pytest.mark.backoffice
def test_test_console_shows_the_raw_answer_to_holders_of_adapters_raw(client, app, login, csrf, backoffice, db):
    from sqlalchemy import select

    from portal.accounts.service import create_user
    from portal.audit.models import AuditEvent
    from portal.audit.record import Actor
    from portal.rbac import roles

    roles.create(db, Actor("setup"), {"name": "raw_reader", "permissions": ["adapters.raw"]})
    create_user(db, "rawadmin", "a long password", ["admin", "raw_reader"])
    db.commit()
    assert login("rawadmin", "a long password").status_code == 302
    page = client.get("/admin/adapters/loyalty").get_data(as_text=True)
    response = client.post("/admin/adapters/loyalty/test", data={"number": KNOWN, "csrf_token": csrf(page)})
    result = response.get_data(as_text=True)
    assert response.status_code == 200 and "Raw answer (excerpt; this view is audited)" in result
    assert "&lt;html" in result.lower()  # the raw answer is escaped, never rendered
    db.expire_all()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "adapter.raw_view")).all()
    assert (event.actor, event.target, event.customer) == ("rawadmin", "loyalty", KNOWN)


def test_file_adapter_page_is_read_only(client, signed_in_owner):
    page = client.get("/admin/adapters/boss").get_data(as_text=True)
    assert "defined in a file" in page and "Save as a new version" not in page


def test_other_team_cannot_edit_or_delete(client, signed_in_owner, csrf, login, points_toml):
    register(client, csrf, points_toml())
    client.get("/logout")
    assert login("bill", "a long password").status_code == 302
    page = client.get("/admin/adapters/points2").get_data(as_text=True)
    assert "Save as a new version" not in page and "Delete adapter" not in page
    response = client.post("/admin/adapters/points2", data={"document": points_toml(owner="billing-team"),
                                                            "csrf_token": csrf(page)})
    assert response.status_code == 403
    response = client.post("/admin/adapters/points2/delete", data={"csrf_token": csrf(page)})
    assert response.status_code == 403


def test_delete_keeps_history(client, signed_in_owner, csrf, points_toml):
    register(client, csrf, points_toml())
    page = client.get("/admin/adapters/points2").get_data(as_text=True)
    response = client.post("/admin/adapters/points2/delete", data={"csrf_token": csrf(page)})
    assert response.status_code == 302
    listing = client.get("/admin/adapters").get_data(as_text=True)
    assert "Adapter points2 deleted; its history is kept." in listing
    assert 'href="/admin/adapters/points2"' not in listing


def test_agents_get_403_on_admin_pages(client, agent):
    assert client.get("/admin/adapters").status_code == 403
    assert client.get("/admin/adapters/boss").status_code == 403
