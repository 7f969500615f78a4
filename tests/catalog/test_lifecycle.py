"""A registered adapter version reaches agents only once approved and promoted; rollback, retire, shadow runs."""

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent

KNOWN = "13800000000"


def events(db, action):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def panel(client, api, tokens, system_id="points2"):
    view = api(client, "GET", f"/api/v1/customers/{KNOWN}", tokens["agent1"]).get_json()
    return next((s for s in view["systems"] if s["system_id"] == system_id), None)


@pytest.mark.backoffice
def test_a_version_goes_live_only_after_approval_and_promotion(client, api, tokens, backoffice, db, loyalty_document):
    assert api(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document()).status_code == 201
    assert panel(client, api, tokens) is None

    early = api(client, "POST", "/api/v1/adapters/points2/versions/1/promote", tokens["mkt"])
    assert early.status_code == 409 and "only an approved version can go live" in early.get_json()["detail"]
    not_approver = api(client, "POST", "/api/v1/adapters/points2/versions/1/approve", tokens["mkt"])
    assert not_approver.status_code == 403 and "adapters.approve" in not_approver.get_json()["detail"]

    approved = api(client, "POST", "/api/v1/adapters/points2/versions/1/approve", tokens["admin1"])
    assert approved.status_code == 200, approved.get_json()
    assert panel(client, api, tokens) is None  # approved is not live yet

    promoted = api(client, "POST", "/api/v1/adapters/points2/versions/1/promote", tokens["mkt"]).get_json()
    assert promoted == {"adapter_id": "points2", "action": "promote", "version": 1, "live_before": None,
                        "live_after": 1}
    assert panel(client, api, tokens)["status"] == "ok"

    [promote] = events(db, "adapter.promote")
    assert promote.actor == "mkt" and promote.details["before"] == {"live_version": None}
    assert promote.details["after"] == {"live_version": 1}
    [approve] = events(db, "adapter.approve")
    assert approve.actor == "admin1" and approve.details["after"]["approved_by"] == "admin1"


def test_four_eyes_an_author_cannot_approve_their_own_version(client, api, tokens, loyalty_document):
    assert api(client, "POST", "/api/v1/adapters", tokens["admin1"], json=loyalty_document()).status_code == 201
    own = api(client, "POST", "/api/v1/adapters/points2/versions/1/approve", tokens["admin1"])
    assert own.status_code == 403
    assert own.get_json()["detail"] == ("version 1 of 'points2' was written by you; someone else must approve it "
                                        "(four-eyes rule)")
    assert api(client, "POST", "/api/v1/adapters/points2/versions/1/approve", tokens["admin2"]).status_code == 200


@pytest.fixture
def one_admin_site(settings_overrides):
    settings_overrides["adapters_four_eyes"] = False
    return settings_overrides


def test_the_four_eyes_rule_can_be_turned_off_for_a_one_admin_site(one_admin_site, client, api, tokens, loyalty_document):
    assert api(client, "POST", "/api/v1/adapters", tokens["admin1"], json=loyalty_document()).status_code == 201
    assert api(client, "POST", "/api/v1/adapters/points2/versions/1/approve", tokens["admin1"]).status_code == 200


@pytest.mark.backoffice
def test_an_edit_is_a_draft_and_rollback_restores_the_previous_version_at_once(client, api, tokens, backoffice,
                                                                               go_live, db, loyalty_document):
    api(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    go_live(client, "points2")
    changed = api(client, "PUT", "/api/v1/adapters/points2", tokens["mkt"], json=loyalty_document(name="Points v2"))
    assert changed.get_json()["state"] == "live" and changed.get_json()["live_version"] == 1
    assert panel(client, api, tokens)["name"] == "Points (registered)"  # the draft is not live

    go_live(client, "points2", version=2)
    assert panel(client, api, tokens)["name"] == "Points v2"
    versions = {v["version"]: v["state"] for v in
                api(client, "GET", "/api/v1/adapters/points2/versions", tokens["mkt"]).get_json()["versions"]}
    assert versions == {1: "approved", 2: "live"}

    rolled = api(client, "POST", "/api/v1/adapters/points2/rollback", tokens["mkt"])
    assert rolled.status_code == 200 and rolled.get_json()["live_after"] == 1
    assert panel(client, api, tokens)["name"] == "Points (registered)"
    [event] = events(db, "adapter.rollback")
    assert event.details["before"] == {"live_version": 2} and event.details["after"] == {"live_version": 1}

    forward = api(client, "POST", "/api/v1/adapters/points2/rollback", tokens["mkt"], json={"to_version": 2})
    assert forward.status_code == 200 and panel(client, api, tokens)["name"] == "Points v2"


@pytest.mark.backoffice
def test_retiring_the_live_version_takes_the_system_out_of_agents_view(client, api, tokens, backoffice, go_live, db, loyalty_document):
    api(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    go_live(client, "points2")
    other_team = api(client, "POST", "/api/v1/adapters/points2/versions/1/retire", tokens["bill"])
    assert other_team.status_code == 403
    retired = api(client, "POST", "/api/v1/adapters/points2/versions/1/retire", tokens["mkt"])
    assert retired.status_code == 200 and retired.get_json()["live_after"] is None
    assert panel(client, api, tokens) is None
    again = api(client, "POST", "/api/v1/adapters/points2/versions/1/promote", tokens["mkt"])
    assert again.status_code == 409 and "retired" in again.get_json()["detail"]
    [event] = events(db, "adapter.retire")
    assert event.details["before"] == {"state": "live", "live_version": 1}
    assert event.details["after"] == {"state": "retired", "live_version": None}


@pytest.mark.parametrize(("method", "path", "body", "key"), [
    ("POST", "/api/v1/adapters/points2/versions/²/approve", None, "version"),
    ("POST", "/api/v1/adapters/points2/versions/0/promote", None, "version"),
    ("POST", "/api/v1/adapters/points2/rollback", {"to_version": "two"}, "to_version"),
    ("POST", "/api/v1/adapters/points2/rollback", {"to": 1}, "to"),
    ("PUT", "/api/v1/adapters/points2/shadow", {}, "version"),
    ("GET", "/api/v1/adapters/points2/shadow?version=%C2%B2", None, "version"),
    ("POST", "/api/v1/adapters/points2/test", {"number": KNOWN, "version": -1}, "version"),
])
def test_bad_input_is_a_422_naming_the_field(client, api, tokens, method, path, body, key, loyalty_document):
    api(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    response = api(client, method, path, tokens["mkt"], json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["key"] == key


@pytest.mark.backoffice
def test_shadow_run_compares_the_candidate_with_the_live_version_and_shows_nobody(client, api, tokens, app, login,
                                                                                  backoffice, go_live, db, loyalty_document):
    api(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    go_live(client, "points2")
    candidate = loyalty_document(name="Points candidate")
    candidate["fields"] = {**candidate["fields"], "tier": {"path": "//span[@id='no-such-tier']", "label": "Tier"}}
    api(client, "PUT", "/api/v1/adapters/points2", tokens["mkt"], json=candidate)
    started = api(client, "PUT", "/api/v1/adapters/points2/shadow", tokens["mkt"], json={"version": 2})
    assert started.status_code == 200, started.get_json()

    for number in (KNOWN, "13800000001", "13800000002"):
        view = api(client, "GET", f"/api/v1/customers/{number}", tokens["agent1"]).get_json()
        names = {s["name"] for s in view["systems"]}
        assert "Points candidate" not in names and "Points (registered)" in names  # nobody sees the candidate
    assert app.extensions["portal.shadow"].wait_idle(10)

    report = api(client, "GET", "/api/v1/adapters/points2/shadow", tokens["mkt"]).get_json()
    assert report["version"] == 2 and report["lookups"] == 3
    assert report["fields"]["tier"]["missing"] + report["fields"]["tier"]["same"] == 3
    assert report["fields"]["points"]["agreement"] == 1.0
    assert sum(report["statuses"].values()) == 3
    owner = app.test_client()
    from tests.conftest import csrf_token

    sign_in = owner.get("/login").get_data(as_text=True)
    owner.post("/login", data={"username": "mkt", "password": "a long password", "csrf_token": csrf_token(sign_in)})
    page = owner.get("/admin/adapters/points2").get_data(as_text=True)
    assert "Shadow run of version 2" in page and "Over the last 3 lookup(s)" in page

    stopped = api(client, "DELETE", "/api/v1/adapters/points2/shadow", tokens["mkt"])
    assert stopped.status_code == 200
    assert [e.details["after"] for e in events(db, "adapter.shadow")] == [{"shadow_version": 2}]
    # The comparison holds statuses and verdicts only: no customer number, no value.
    from portal.catalog.models import ShadowComparison

    stored = db.scalars(select(ShadowComparison)).all()
    assert len(stored) == 3
    assert all(set(row.fields.values()) <= {"same", "differs", "missing", "new"} for row in stored)
    assert all(KNOWN not in str(row.fields) for row in stored)


@pytest.mark.backoffice
def test_the_test_console_masks_for_an_admin_without_adapters_raw(client, api, tokens, backoffice, db):
    from portal.demo.data import loyalty

    member = loyalty(KNOWN)
    report = api(client, "POST", "/api/v1/adapters/loyalty/test", tokens["admin1"], json={"number": KNOWN}).get_json()
    fields = report["result"]["fields"]
    assert fields["tier"] == member.tier  # public
    assert fields["member_name"] == "•" * min(len(member.name), 8) and member.name not in str(report)
    assert fields["points"] == "•" * min(len(str(member.points)), 8)
    assert "raw_excerpt" not in report["result"] and report["raw_allowed"] is False
    assert all(set(cell) <= {"•"} for row in report["result"]["tables"]["transactions"] for cell in row.values()
               if cell)
    assert events(db, "adapter.raw_view") == []

    raw = api(client, "POST", "/api/v1/adapters/loyalty/test", tokens["rawadmin"], json={"number": KNOWN}).get_json()
    assert member.name in raw["result"]["raw_excerpt"] and raw["raw_allowed"] is True
    assert raw["result"]["fields"]["member_name"] != member.name  # parsed values stay masked
    [event] = events(db, "adapter.raw_view")
    assert (event.actor, event.target, event.customer) == ("rawadmin", "loyalty", KNOWN)


@pytest.mark.backoffice
def test_the_test_console_runs_any_version(client, api, tokens, backoffice, go_live, loyalty_document):
    api(client, "POST", "/api/v1/adapters", tokens["mkt"], json=loyalty_document())
    go_live(client, "points2")
    broken = loyalty_document()
    broken["url"] = broken["url"].replace("/member", "/no-such-page")
    api(client, "PUT", "/api/v1/adapters/points2", tokens["mkt"], json=broken)
    newest = api(client, "POST", "/api/v1/adapters/points2/test", tokens["mkt"], json={"number": KNOWN}).get_json()
    live = api(client, "POST", "/api/v1/adapters/points2/test", tokens["mkt"],
               json={"number": KNOWN, "version": 1}).get_json()
    assert newest["version"] == 2 and newest["result"]["status"] == "error"
    assert live["version"] == 1 and live["result"]["status"] == "ok"
