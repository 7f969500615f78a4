"""The adapter page's lifecycle buttons: approve (an approver), promote, roll back, retire, shadow (its owners)."""

import re

import pytest

from tests.catalog.test_views import register

KNOWN = "13800000000"


@pytest.fixture
def people(db):
    from portal.accounts.service import create_user

    create_user(db, "mkt", "a long password", ["system_owner"], teams=["marketing-team"])
    create_user(db, "admin1", "a long password", ["admin"])
    create_user(db, "agent1", "a long password", ["agent"])
    db.commit()


def press(client, csrf, path, page_path="/admin/adapters/points2"):
    page = client.get(page_path).get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf(page)}, follow_redirects=True)


def live_name(app, number=KNOWN):
    """What an agent's combined view calls points2 (None: not shown)."""
    client = app.test_client()
    from tests.conftest import csrf_token

    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"username": "agent1", "password": "a long password", "csrf_token": csrf_token(page)})
    view = client.get(f"/api/v1/customers/{number}").get_json()
    return next((s["name"] for s in view["systems"] if s["system_id"] == "points2"), None)


@pytest.mark.backoffice
def test_from_draft_to_live_and_back_through_the_pages(app, client, login, csrf, people, backoffice, points_toml):
    login("mkt", "a long password")
    register(client, csrf, points_toml())
    page = client.get("/admin/adapters/points2").get_data(as_text=True)
    assert ">Approve<" not in page and ">Promote<" not in page  # an owner cannot approve

    client.get("/logout")
    login("admin1", "a long password")
    page = client.get("/admin/adapters/points2").get_data(as_text=True)
    assert ">Approve<" in page
    done = press(client, csrf, "/admin/adapters/points2/versions/1/approve").get_data(as_text=True)
    assert "Version 1 approved." in done and '<span class="badge state-approved">approved</span>' in done
    assert live_name(app) is None

    client.get("/logout")
    login("mkt", "a long password")
    done = press(client, csrf, "/admin/adapters/points2/versions/1/promote").get_data(as_text=True)
    assert "Version 1 is live: agents use it from now on." in done and "version 1 is live" in done
    assert live_name(app) == "Points (registered)"

    page = client.get("/admin/adapters/points2").get_data(as_text=True)
    client.post("/admin/adapters/points2", data={"document": points_toml(name="Points club"), "csrf_token": csrf(page)})
    assert live_name(app) == "Points (registered)"  # saved as a draft

    done = press(client, csrf, "/admin/adapters/points2/versions/2/shadow").get_data(as_text=True)
    assert "Version 2 now runs in shadow" in done and "No lookups yet since the shadow run started." in done
    done = press(client, csrf, "/admin/adapters/points2/unshadow").get_data(as_text=True)
    assert "Shadow run stopped." in done

    refused = press(client, csrf, "/admin/adapters/points2/versions/2/promote")
    assert refused.status_code == 409 and "only an approved version can go live" in refused.get_data(as_text=True)

    done = press(client, csrf, "/admin/adapters/points2/versions/1/retire").get_data(as_text=True)
    assert "Version 1 retired." in done and "not live</strong>" in done
    assert live_name(app) is None


def test_lifecycle_buttons_need_a_csrf_token(client, login, people, csrf, points_toml):
    login("mkt", "a long password")
    register(client, csrf, points_toml())
    response = client.post("/admin/adapters/points2/versions/1/retire", data={}, follow_redirects=True)
    assert response.status_code == 400 and "CSRF token is missing" in response.get_data(as_text=True)
    assert re.search(r'badge state-draft">draft<', client.get("/admin/adapters/points2").get_data(as_text=True))
