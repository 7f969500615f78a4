"""The upload page /admin/users/import and POST /api/v1/users/import: permissions, CSRF, reports."""

import io
import re

import pytest

GOOD = ["alice,Alice Wong,alice@example.cn,13800000001,north,agent,enabled",
        "bob,Bob Li,,,south,agent|supervisor,active"]
BAD = "carol,,not-an-address,,,agent,enabled"


def upload(data: str | bytes, name: str = "operators.csv") -> tuple[io.BytesIO, str]:
    return io.BytesIO(data.encode() if isinstance(data, str) else data), name


def post_page(client, csrf, data, apply=False, encoding="auto", mapping=None):
    token = csrf(client.get("/admin/users/import").get_data(as_text=True))
    form = {"csrf_token": token, "file": upload(data), "encoding": encoding}
    if apply:
        form["apply"] = "y"
    if mapping is not None:
        form["mapping"] = upload(mapping, "mapping.csv")
    return client.post("/admin/users/import", data=form, content_type="multipart/form-data")


# --- the page -------------------------------------------------------------------------------

def test_page_shows_the_form(client, signed_in_admin):
    page = client.get("/admin/users/import").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'name="mapping"' in page
    assert '<option value="gbk">GBK</option>' in page and 'name="apply"' in page


def test_page_dry_run_lists_errors_first_highlighted_and_changes_nothing(client, signed_in_admin, csrf, csv_text,
                                                                       operators):
    response = post_page(client, csrf, csv_text(GOOD[0], BAD, GOOD[1]))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dry run" in page and "2 to create, 0 to update, 0 unchanged, 1 error" in page
    error_row = page.index('<tr class="status-error">')
    assert error_row < page.index('<tr class="status-ok">')  # errors first
    assert "<td>3</td>" in page[error_row:error_row + 200]
    assert "e-mail &#39;not-an-address&#39; is not an address" in page
    assert "roles: agent, supervisor" in page
    assert set(operators()) == {"root"}


def test_page_apply_with_errors_is_refused(client, signed_in_admin, csrf, csv_text, operators):
    response = post_page(client, csrf, csv_text(GOOD[0], BAD), apply=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing applied" in page and "nothing applied: 1 error" in page
    assert set(operators()) == {"root"}


def test_page_apply_then_again_unchanged(client, signed_in_admin, csrf, csv_text, operators):
    response = post_page(client, csrf, csv_text(*GOOD), apply=True)
    assert response.status_code == 200 and "Applied" in response.get_data(as_text=True)
    assert operators()["bob"]["roles"] == ["agent", "supervisor"]
    page = post_page(client, csrf, csv_text(*GOOD), apply=True).get_data(as_text=True)
    assert "0 to create, 0 to update, 2 unchanged, 0 errors" in page
    assert "2 line(s) match what is stored" in page


def test_page_reads_gbk_and_a_mapping(client, signed_in_admin, csrf, csv_text, operators):
    data = csv_text("wangwei,王伟,,,华北,客服,启用").encode("gbk")
    response = post_page(client, csrf, data, apply=True, mapping="客服,agent\n")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "GBK" in response.get_data(as_text=True)
    stored = operators()["wangwei"]
    assert stored["display_name"] == "王伟" and stored["region"] == "华北" and stored["roles"] == ["agent"]


def test_page_file_level_error_is_shown(client, signed_in_admin, csrf):
    response = post_page(client, csrf, "login,colour\nx,y\n")
    assert response.status_code == 422
    assert "unknown column(s) &#39;login&#39;, &#39;colour&#39;" in response.get_data(as_text=True)


def test_page_without_a_file_asks_for_one(client, signed_in_admin, csrf):
    token = csrf(client.get("/admin/users/import").get_data(as_text=True))
    response = client.post("/admin/users/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose the CSV file to import." in response.get_data(as_text=True)


def test_page_needs_the_csrf_token(client, signed_in_admin, csv_text, operators):
    response = client.post("/admin/users/import", data={"file": upload(csv_text(*GOOD)), "apply": "y"},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert set(operators()) == {"root"}


def test_page_accepts_files_larger_than_the_global_request_limit(client, signed_in_admin, csrf, csv_text):
    lines = [f"user{i:05d},Operator number {i},user{i:05d}@example.cn,+86 138-0000-{i % 10000:04d},north,agent,enabled"
             for i in range(14_000)]
    data = csv_text(*lines)
    assert len(data.encode()) > client.application.config["MAX_CONTENT_LENGTH"]
    response = post_page(client, csrf, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "14000 to create" in page
    assert "13500 more line(s) to create or update are not listed here" in page


def test_agents_get_403_on_the_page(client, agent):
    assert client.get("/admin/users/import").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/users/import")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the API --------------------------------------------------------------------------------

def api(client, headers, data, **form):
    body = {"file": upload(data), **form}
    return client.post("/api/v1/users/import", data=body, headers=headers, content_type="multipart/form-data")


def test_api_dry_run_with_errors_is_200_and_lists_them(client, bearer, csv_text, operators):
    response = api(client, bearer("api-admin", "admin"), csv_text(GOOD[0], BAD))
    assert response.status_code == 200
    body = response.get_json()
    assert body["applied"] is False
    assert body["summary"] == {"create": 1, "update": 0, "unchanged": 0, "error": 1, "total": 2}
    assert body["lines"][1] == {"line": 3, "username": "carol", "action": "error", "changes": [],
                                "errors": ["e-mail 'not-an-address' is not an address like name@example.com"]}
    assert body["lines"][0]["changes"][0] == {"attribute": "display_name", "before": None, "after": "Alice Wong"}
    assert "alice" not in operators()


def test_api_refused_apply_is_a_422_problem_with_the_report(client, bearer, csv_text, operators):
    response = api(client, bearer("api-admin", "admin"), csv_text(GOOD[0], BAD), apply="true")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "import_refused" and body["detail"] == "nothing applied: 1 line(s) have errors"
    assert body["applied"] is False and body["lines"][1]["action"] == "error"
    assert "alice" not in operators()


def test_api_apply_then_again(client, bearer, csv_text, operators):
    headers = bearer("api-admin", "admin")
    first = api(client, headers, csv_text(*GOOD), apply="true").get_json()
    assert first["applied"] is True and first["summary"]["create"] == 2
    assert operators()["alice"]["password_hash"] is None
    again = api(client, headers, csv_text(*GOOD), apply="true").get_json()
    assert again["applied"] is True and again["summary"]["unchanged"] == 2
    assert {line["action"] for line in again["lines"]} == {"unchanged"}


def test_api_mapping_and_explicit_encoding(client, bearer, csv_text, operators):
    data = csv_text("lina,李娜,,,,CSR,停用").encode("gbk")
    response = client.post("/api/v1/users/import", headers=bearer("api-admin", "admin"),
                           content_type="multipart/form-data",
                           data={"file": upload(data), "mapping": upload('[roles]\nCSR = "agent"\n', "roles.toml"),
                                 "encoding": "gbk", "apply": "true"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["encoding"] == "gbk"
    assert operators()["lina"]["roles"] == ["agent"] and operators()["lina"]["enabled"] is False


@pytest.mark.parametrize(("form", "key"), [
    ({"apply": "perhaps"}, "apply"),
    ({"encoding": "latin-1"}, "encoding"),
])
def test_api_bad_parameters(client, bearer, csv_text, form, key):
    response = api(client, bearer("api-admin", "admin"), csv_text(*GOOD), **form)
    assert response.status_code == 422 and response.get_json()["key"] == key


def test_api_without_a_file(client, bearer):
    response = client.post("/api/v1/users/import", headers=bearer("api-admin", "admin"), data={"apply": "true"},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and response.get_json()["key"] == "file"


def test_api_permissions(client, bearer, csv_text):
    assert api(client, bearer("api-agent", "agent"), csv_text(*GOOD)).status_code == 403
    assert api(client, {}, csv_text(*GOOD)).status_code in (400, 401)  # no session: no CSRF token, no user


def test_api_with_the_session_needs_csrf(client, signed_in_admin, csrf, csv_text):
    assert api(client, {}, csv_text(*GOOD)).status_code == 400
    token = csrf(client.get("/admin/users/import").get_data(as_text=True))
    response = api(client, {"X-CSRFToken": token}, csv_text(*GOOD), apply="true")
    assert response.status_code == 200 and response.get_json()["applied"] is True


def test_api_agent_session_gets_403(client, agent, csv_text):
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    assert api(client, {"X-CSRFToken": token}, csv_text(*GOOD)).status_code == 403
