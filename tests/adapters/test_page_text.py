"""Text inside script, style and template elements never enters an extracted value (issue 11, item 5)."""

from __future__ import annotations

import pytest

from portal.adapters import xmlsafe
from portal.adapters.base import Status
from tests.adapters.conftest import Reply

PAGE = b"""<html><head><title>Customer</title>
<style>td { color: red } /* STYLE-TEXT */</style>
<script>var token = "SCRIPT-TEXT";</script></head>
<body>
  <p id="plan">Gold <script>document.write("SCRIPT-TEXT")</script>88<style>.x{} STYLE-TEXT</style> plan</p>
  <div id="notes"><template><b>TEMPLATE-TEXT</b></template>Calls <SCRIPT type="text/javascript">SCRIPT-TEXT</SCRIPT>barred</div>
  <table id="bills">
    <tr><td>2026-10<script>SCRIPT-TEXT</script></td><td>12.50<style>STYLE-TEXT</style></td></tr>
    <tr><td><template>TEMPLATE-TEXT</template>2026-11</td><td>8.00</td></tr>
  </table>
</body></html>"""
HIDDEN = ("SCRIPT-TEXT", "STYLE-TEXT", "TEMPLATE-TEXT")


@pytest.fixture
def page_adapter(web, make_adapter):
    web.route("GET", "/c/13800000000", Reply(body=PAGE))
    return make_adapter(
        "html",
        url=web.url + "/c/{customer}",
        fields={"plan": {"path": "//p[@id='plan']"}, "notes": {"path": "css:#notes"},
                "whole": {"path": "string(/html)"}},
        tables={"bills": {"path": "//table[@id='bills']/tr", "columns": {"month": "td[1]", "amount": "td[2]"}}},
    )


def test_a_field_whose_element_holds_a_script_gives_only_the_visible_text(page_adapter):
    result = page_adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert result.fields["plan"] == "Gold 88 plan"
    assert result.fields["notes"] == "Calls barred"
    assert result.tables["bills"] == [{"month": "2026-10", "amount": "12.50"}, {"month": "2026-11", "amount": "8.00"}]
    for value in [*result.fields.values(), *(v for row in result.tables["bills"] for v in row.values())]:
        assert not any(hidden in value for hidden in HIDDEN), value


def test_the_raw_answer_for_the_test_console_is_still_what_the_system_sent(page_adapter):
    result = page_adapter.lookup("13800000000", capture_raw=True)
    assert "SCRIPT-TEXT" in result.raw_excerpt  # raw is raw; who may see it is the console's business


def test_a_path_that_selects_the_script_itself_finds_nothing(web, make_adapter):
    web.route("GET", "/c/1", Reply(body=PAGE))
    adapter = make_adapter("html", url=web.url + "/c/{customer}",
                           fields={"plan": {"path": "//p[@id='plan']"}, "code": {"path": "//script"}})
    assert adapter.lookup("1").fields["code"] is None


def test_the_parser_keeps_the_text_that_follows_a_removed_element():
    root = xmlsafe.parse_html(b"<p>a<script>x</script>b<style>y</style>c<template>z</template>d</p>")
    assert root.xpath("string(//p)") == "abcd"
