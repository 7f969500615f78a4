"""Extraction helpers: XPath/CSS text, tables, SOAP dotted paths, socket parsers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from lxml import etree

from portal.adapters import xmlsafe
from portal.adapters.config import AdapterConfig
from portal.adapters.extract import (
    XPathExtractor,
    compile_path,
    first_text,
    matches,
    normalise_space,
)
from portal.adapters.soap import dotted, to_text
from portal.adapters.socket import cut, parse_columns, parse_kv

PAGE = b"""<html><body>
<table id="summary">
  <tr><th>Plan</th><td class="plan">  Gold
      <b>88</b> </td></tr>
  <tr><th>Empty</th><td class="empty"></td></tr>
</table>
<table id="bills">
  <tr class="bill"><td>2026-05</td><td>88.00</td></tr>
  <tr class="bill"><td>2026-04</td><td> 90.50 </td></tr>
</table>
<p>Tone: <a href="/t/1" title="Moonlight">play</a></p>
</body></html>"""


def config(**doc) -> AdapterConfig:
    return AdapterConfig.model_validate({"id": "sys", "name": "Sys", "kind": "html", **doc})


def test_normalise_space():
    assert normalise_space("  Gold\n   plan\t ") == "Gold plan"


def test_fields_by_xpath_and_css_are_normalised_text():
    extractor = XPathExtractor(
        config(
            fields={
                "plan": {"path": "//td[@class='plan']"},
                "plan_css": {"path": "css:#summary td.plan"},
                "empty": {"path": "//td[@class='empty']"},
                "missing": {"path": "//td[@class='nope']"},
                "missing_css": {"path": "css:td.nope"},
                "title": {"path": "//a/@title"},
                "count": {"path": "count(//tr[@class='bill'])"},
                "explicit": {"path": "string(//tr[@class='bill'][2]/td[2])"},
                "is_gold": {"path": "contains(//td[@class='plan'], 'Gold')"},
            }
        ),
        allow_css=True,
    )
    out = extractor.extract(xmlsafe.parse_html(PAGE))
    assert out.fields == {
        "plan": "Gold 88",
        "plan_css": "Gold 88",
        "empty": "",
        "missing": None,
        "missing_css": None,
        "title": "Moonlight",
        "count": "2",
        "explicit": "90.50",
        "is_gold": "true",
    }


def test_tables_rows_and_relative_columns():
    extractor = XPathExtractor(
        config(
            tables={
                "bills": {"path": "//tr[@class='bill']", "columns": {"month": "td[1]", "amount": "css:td:nth-child(2)"}},
                "none": {"path": "//tr[@class='nope']", "columns": {"x": "td"}},
            }
        ),
        allow_css=True,
    )
    out = extractor.extract(xmlsafe.parse_html(PAGE))
    assert out.tables["bills"] == [
        {"month": "2026-05", "amount": "88.00"},
        {"month": "2026-04", "amount": "90.50"},
    ]
    assert out.tables["none"] == []


def test_xml_namespaces():
    root = xmlsafe.parse_xml(
        b"<r xmlns='urn:vas' xmlns:x='urn:extra'><svc><name>News</name><x:fee>5</x:fee></svc>"
        b"<svc><name>Music</name><x:fee>10</x:fee></svc></r>"
    )
    extractor = XPathExtractor(
        config(
            kind="xml",
            fields={"first": {"path": "/v:r/v:svc[1]/v:name"}},
            tables={"svc": {"path": "//v:svc", "columns": {"name": "v:name", "fee": "e:fee"}}},
        ),
        namespaces={"v": "urn:vas", "e": "urn:extra"},
    )
    out = extractor.extract(root)
    assert out.fields == {"first": "News"}
    assert out.tables["svc"] == [{"name": "News", "fee": "5"}, {"name": "Music", "fee": "10"}]


def test_first_text_and_matches_cover_every_xpath_result_type():
    assert first_text([]) is None
    assert first_text(1.0) == "1"
    assert first_text(2.5) == "2.5"
    assert first_text(float("nan")) is None
    assert first_text(True) == "true"
    assert first_text(" a  b ") == "a b"
    assert first_text([etree.Comment("x")]) is None
    assert matches([]) is False and matches([etree.Element("a")]) is True
    assert matches(0.0) is False and matches(3.0) is True and matches(float("nan")) is False
    assert matches("") is False and matches("x") is True
    assert matches(False) is False and matches(True) is True


def test_compile_path_probes_for_runtime_errors():
    from portal.errors import ConfigError

    with pytest.raises(ConfigError):
        compile_path("//x:y", source="s", key="k")
    assert compile_path("//x:y", source="s", key="k", namespaces={"x": "urn:x"}) is not None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("plan.name", "Gold"),
        ("bills.bill.0.amount", Decimal("88.00")),
        ("bills.bill.1.month", "2026-04"),
        ("bills.bill.month", "2026-05"),  # a name on a list reads the first item
        ("bills.bill.7.amount", None),
        ("plan.nope", None),
        ("holder", {"name": None}),
        ("plan.name.deeper", None),
    ],
)
def test_dotted_paths(path, expected):
    data = {
        "plan": {"name": "Gold"},
        "holder": {"name": None},
        "bills": {"bill": [{"month": "2026-05", "amount": Decimal("88.00")}, {"month": "2026-04", "amount": Decimal("90.5")}]},
    }
    assert dotted(data, path) == expected


def test_to_text():
    assert to_text(None) is None
    assert to_text(Decimal("88.00")) == "88.00"
    assert to_text(Decimal("1E+2")) == "100"
    assert to_text(True) == "true"
    assert to_text(12) == "12"
    assert to_text(dt.date(2026, 6, 30)) == "2026-06-30"
    assert to_text(dt.datetime(2026, 6, 30, 12, 0)) == "2026-06-30T12:00:00"
    assert to_text(["a", "b"]) == "a, b"
    assert to_text({"x": 1}) is None
    assert to_text([{"x": 1}]) is None


def test_socket_parsers():
    assert parse_kv("plan=Gold | balance = 12.5|junk|plan=Other|=x", "|") == {"plan": "Gold", "balance": "12.5"}
    assert parse_columns(" 3 : 11 ", "s", "k") == (3, 11)
    assert cut("ABC  Gold    ", 3, 11) == "Gold"
    assert cut("short", 10, 20) is None
    assert cut("    ", 0, 4) is None
