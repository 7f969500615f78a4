"""Each system's own screen for one customer (the quick-channel target)."""

from __future__ import annotations

import lxml.html
import pytest

from portal.demo import data
from portal.demo.catalogue import SYSTEMS

pytestmark = pytest.mark.backoffice


def fetch(http, url: str):
    response = http.get(url, timeout=5)
    charset = response.headers["Content-Type"].split("charset=")[1]
    return response, lxml.html.fromstring(response.content.decode(charset))


@pytest.mark.parametrize("spec", SYSTEMS, ids=[s.id for s in SYSTEMS])
def test_screen_shows_the_customer_titled_with_the_system_name(backoffice, http, spec):
    system = backoffice.systems[spec.id]
    response, doc = fetch(http, system.ui_url("13800000000"))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert doc.findtext(".//title").startswith(spec.name)
    assert doc.xpath("string(//h1[@id='system'])") == spec.name
    assert doc.xpath("string(//span[@id='customer'])") == "13800000000"
    values = doc.xpath("//dl[@id='fields']/dd/text()")
    assert len(values) >= 2
    name = getattr(data.record(spec.id, "13800000000"), "name", None)
    assert name is None or name in values
    if spec.protocol == "socket":
        assert system.ui_port != system.port  # the data port speaks raw TCP; the screen has its own


def test_screens_show_their_tables(backoffice, http):
    _, doc = fetch(http, backoffice.systems["boss"].ui_url("13800000000"))
    months = [row.xpath("string(td[1])") for row in doc.xpath("//table[caption='Bills']//tr[td]")]
    assert months == [b.month for b in data.boss("13800000000").bills]
    response, doc = fetch(http, backoffice.systems["rbt"].ui_url("13800000000"))
    assert response.headers["Content-Type"] == "text/html; charset=GBK"
    assert data.rbt("13800000000").current.title.encode("gbk") in response.content


@pytest.mark.parametrize("system_id", ["boss", "vas", "complaints", "mail"])
def test_unknown_customer_screen_is_a_404_with_not_found(backoffice, http, system_id):
    number = data.unknown_numbers(system_id)[0]
    response, doc = fetch(http, backoffice.systems[system_id].ui_url(number))
    assert response.status_code == 404 and doc.xpath("//div[@id='not-found']")
    assert not doc.xpath("//dl[@id='fields']")


def test_screen_escapes_what_it_echoes(backoffice, http):
    response, doc = fetch(http, backoffice.systems["loyalty"].ui_url("<script>x</script>"))
    assert response.status_code == 404
    assert b"<script>" not in response.content and not doc.xpath("//script")
