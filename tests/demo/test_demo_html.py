"""The HTML systems: loyalty (plain GET), complaints (form login), ring-back tones (GBK)."""

from __future__ import annotations

from types import SimpleNamespace

import lxml.html
import pytest

from portal.demo import data
from portal.demo.html_systems import SESSION_COOKIE

pytestmark = pytest.mark.backoffice



@pytest.fixture
def urls(backoffice):
    """The pages under test, on the ports the session's back office got."""
    def at(system_id: str, path: str) -> str:
        return backoffice.systems[system_id].base_url + path

    return SimpleNamespace(loyalty=at("loyalty", "/member"), tickets=at("complaints", "/tickets"),
                           login=at("complaints", "/login"), rbt=at("rbt", "/rbt/subscriber"))


def text(doc, xpath: str) -> str:
    return doc.xpath(f"string({xpath})")


def sign_in(http, urls, password: str = "complaints-demo"):
    return http.post(urls.login, data={"username": "portal-svc", "password": password}, allow_redirects=False, timeout=5)


def test_loyalty_page_shows_tier_points_and_transactions(backoffice, http, urls):
    response = http.get(urls.loyalty, params={"msisdn": "13800000000"}, timeout=5)
    account = data.loyalty("13800000000")
    doc = lxml.html.fromstring(response.content)
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert text(doc, "//span[@id='member-name']") == account.name
    assert text(doc, "//span[@id='tier']") == account.tier
    assert text(doc, "//span[@id='points']") == str(account.points)
    rows = [(text(r, "td[@class='date']"), text(r, "td[@class='points']"))
            for r in doc.xpath("//table[@id='transactions']/tbody/tr")]
    assert rows == [(t.date.isoformat(), str(t.points)) for t in account.transactions]


def test_loyalty_not_found_and_missing_number(backoffice, http, urls):
    number = data.unknown_numbers("loyalty")[0]
    page = http.get(urls.loyalty, params={"msisdn": number}, timeout=5)
    doc = lxml.html.fromstring(page.content)
    assert page.status_code == 200 and doc.xpath("//div[@id='not-found']") and not doc.xpath("//span[@id='tier']")
    assert http.get(urls.loyalty, timeout=5).status_code == 400


def test_rbt_page_is_really_gbk(backoffice, http, urls):
    response = http.get(urls.rbt, params={"msisdn": "13800000000"}, timeout=5)
    account = data.rbt("13800000000")
    assert response.headers["Content-Type"] == "text/html; charset=GBK"
    raw = response.content
    assert account.current.title.encode("gbk") in raw and account.name.encode("gbk") in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b'<meta charset="GBK">' in raw
    doc = lxml.html.fromstring(raw.decode("gbk"))
    assert text(doc, "//span[@id='current-title']") == account.current.title
    assert [text(r, "td[@class='title']") for r in doc.xpath("//table[@id='library']/tbody/tr")] == \
        [t.title for t in account.library]


def test_rbt_not_found_page(backoffice, http, urls):
    number = data.unknown_numbers("rbt")[0]
    response = http.get(urls.rbt, params={"msisdn": number}, timeout=5)
    assert response.status_code == 200 and b'<div id="not-found">' in response.content


def test_complaints_without_a_session_answers_its_login_page(backoffice, http, urls):
    response = http.get(urls.tickets, params={"msisdn": "13800000000"}, timeout=5)
    doc = lxml.html.fromstring(response.content)
    assert response.status_code == 200
    assert doc.xpath("//form[@id='login']/@action") == ["/login"]
    assert doc.xpath("//form[@id='login']//input/@name") == ["username", "password"]
    assert not doc.xpath("//table[@id='tickets']")
    http.cookies.set(SESSION_COOKIE, "forged-token", domain="127.0.0.1")
    forged = http.get(urls.tickets, params={"msisdn": "13800000000"}, timeout=5)
    assert b'<form id="login"' in forged.content and b'id="tickets"' not in forged.content


def test_complaints_wrong_password_sets_no_cookie(backoffice, http, urls):
    response = sign_in(http, urls, password="guess")
    assert response.status_code == 200 and SESSION_COOKIE not in response.cookies
    assert b'id="login-error"' in response.content and b'<form id="login"' in response.content


def test_complaints_login_then_tickets(backoffice, http, urls):
    response = sign_in(http, urls)
    assert response.status_code == 303 and response.headers["Location"].endswith("/")
    assert SESSION_COOKIE in response.cookies and "HttpOnly" in response.headers["Set-Cookie"]
    page = http.get(urls.tickets, params={"msisdn": "13800000000"}, timeout=5)
    record = data.complaints("13800000000")
    doc = lxml.html.fromstring(page.content)
    assert not doc.xpath("//form[@id='login']")
    assert text(doc, "//span[@id='customer-name']") == record.name
    rows = [tuple(text(r, f"td[@class='{c}']") for c in ("id", "opened", "category", "state"))
            for r in doc.xpath("//table[@id='tickets']/tbody/tr")]
    assert rows == [(t.id, t.opened.isoformat(), t.category, t.state) for t in record.tickets]
    unknown = http.get(urls.tickets, params={"msisdn": data.unknown_numbers("complaints")[0]}, timeout=5)
    assert b'<div id="not-found">' in unknown.content


def test_complaints_sessions_do_not_survive_a_restart(backoffice, http, urls):
    assert sign_in(http, urls).status_code == 303
    assert b'id="tickets"' in http.get(urls.tickets, params={"msisdn": "13800000000"}, timeout=5).content
    backoffice.stop_system("complaints")
    backoffice.start_system("complaints")
    again = http.get(urls.tickets, params={"msisdn": "13800000000"}, timeout=5)
    assert b'<form id="login"' in again.content


def test_its_screen_takes_its_own_login_beside_another_back_office(backoffice, http, urls):
    from portal.demo.backoffice import BackOffice
    from portal.demo.sso_receiver import join_portal

    join_portal("http://127.0.0.1:1")  # joined to a portal: the screen wants a signed-in operator
    try:
        with BackOffice(systems=["complaints"], ports="free"):
            pass  # a second complaints system in this process, with sessions of its own
        assert sign_in(http, urls).status_code == 303
        screen = http.get(backoffice.systems["complaints"].ui_url("13800000000"), timeout=5)
        assert screen.status_code == 200 and 'id="operator">portal-svc<' in screen.text
    finally:
        join_portal(None)
