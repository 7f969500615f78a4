"""Each kind's options are validated when the adapter is built: file, key and reason."""

from __future__ import annotations

import pytest

from portal.adapters.html import HtmlAdapter
from portal.adapters.registry import build_adapter
from portal.adapters.soap import SETTINGS, DeadlineTransport, SoapAdapter
from portal.adapters.socket import SocketAdapter
from portal.adapters.xml import XmlAdapter
from portal.errors import ConfigError

GOOD = {
    "html": {"url": "http://127.0.0.1:1/c/{customer}", "fields": {"plan": {"path": "//td[@id='plan']"}}},
    "xml": {
        "url": "http://127.0.0.1:1/x",
        "body": "<q>{customer}</q>",
        "namespaces": {"v": "urn:vas"},
        "fields": {"plan": {"path": "//v:plan"}},
    },
    "soap": {"wsdl": "http://127.0.0.1:1/s?wsdl", "operation": "Get", "fields": {"plan": {"path": "plan.name"}}},
    "socket": {
        "host": "127.0.0.1",
        "port": 1,
        "request": "Q {customer}",
        "pattern": r"PLAN=(?P<plan>\w+)",
        "fields": {"plan": {"path": "plan"}},
    },
}


def doc(kind: str, **changes):
    data = {"id": "sys", "name": "System", "kind": kind, **GOOD[kind]}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def rejected(data, source="adapters/sys.toml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build_adapter(data, source)
    assert info.value.source == source
    return info.value


@pytest.mark.parametrize(
    ("kind", "cls"), [("html", HtmlAdapter), ("xml", XmlAdapter), ("soap", SoapAdapter), ("socket", SocketAdapter)]
)
def test_a_good_document_builds_its_kind(kind, cls):
    adapter = build_adapter(doc(kind), "adapters/sys.toml")
    try:
        assert isinstance(adapter, cls)
        assert adapter.id == "sys"
    finally:
        adapter.close()


@pytest.mark.parametrize(
    ("kind", "changes", "key", "reason"),
    [
        ("html", {"url": None}, "url", "Field required"),
        ("html", {"url": "ftp://x/"}, "url", "should match pattern"),
        ("html", {"method": "DELETE"}, "method", "Input should be 'GET' or 'POST'"),
        ("html", {"charset": "klingon"}, "charset", "unknown charset 'klingon'"),
        ("html", {"max_bytes": 0}, "max_bytes", "greater than 0"),
        ("html", {"colour": "blue"}, "colour", "unknown key"),
        ("html", {"login": {"url": "http://h/login", "username_field": "u"}}, "login.password_field", "Field required"),
        ("xml", {"body": None}, "body", "Field required"),
        ("xml", {"content_type": "application/xml; charset=klingon"}, "content_type", "unknown charset"),
        ("soap", {"operation": None}, "operation", "Field required"),
        ("soap", {"not_found_faults": "unknown"}, "not_found_faults", "valid list"),
        ("socket", {"port": 70000}, "port", "less than or equal to 65535"),
        ("socket", {"framing": "fixed"}, "record_length", "required for framing = 'fixed'"),
        ("socket", {"framing": "fixed", "record_length": 10, "max_bytes": 5}, "record_length", "larger than max_bytes"),
        ("socket", {"framing": "length", "length_bytes": 3}, "length_bytes", "Input should be 1, 2 or 4"),
        ("socket", {"byteorder": "middle"}, "byteorder", "'big' or 'little'"),
        ("socket", {"pattern": None}, "pattern", "required for parse = 'regex'"),
        ("socket", {"pattern": "(?P<plan"}, "pattern", "invalid regular expression"),
        ("socket", {"not_found": "[unclosed"}, "not_found", "invalid regular expression"),
        ("socket", {"charset": "klingon"}, "charset", "unknown charset"),
        ("socket", {"terminator": ""}, "terminator", "at least 1 character"),
    ],
)
def test_bad_options_name_the_key_and_the_reason(kind, changes, key, reason):
    error = rejected(doc(kind, **changes))
    assert error.key == key
    assert reason in error.reason
    assert str(error).startswith(f"adapters/sys.toml: {key}: ")


@pytest.mark.parametrize(
    ("kind", "fields", "key", "reason"),
    [
        ("html", {"plan": {"path": "//td[@id="}}, "fields.plan.path", "invalid XPath"),
        ("html", {"plan": {"path": "css:td[[["}}, "fields.plan.path", "invalid CSS selector"),
        ("html", {"plan": {"path": "css:"}}, "fields.plan.path", "empty CSS selector"),
        ("xml", {"plan": {"path": "//nope:plan"}}, "fields.plan.path", "invalid XPath"),
        ("xml", {"plan": {"path": "css:td"}}, "fields.plan.path", "only supported by the html kind"),
        ("xml", {"plan": {"path": "$undefined"}}, "fields.plan.path", "invalid XPath"),
        ("soap", {"plan": {"path": "plan..name"}}, "fields.plan.path", "empty segment"),
        ("socket", {"plan": {"path": "nosuchgroup"}}, "fields.plan.path", "no group named 'nosuchgroup'"),
    ],
)
def test_bad_field_paths_are_config_errors(kind, fields, key, reason):
    error = rejected(doc(kind, fields=fields))
    assert error.key == key
    assert reason in error.reason


def test_bad_table_paths_name_the_table_and_column():
    tables = {"bills": {"path": "//tr", "columns": {"month": "td[1", "amount": "td[2]"}}}
    error = rejected(doc("html", tables=tables))
    assert error.key == "tables.bills.columns.month"

    error = rejected(doc("html", tables={"bills": {"path": "//tr[", "columns": {"m": "td"}}}))
    assert error.key == "tables.bills.path"

    socket_tables = {"sms": {"path": r"(?P<to>\d+)", "columns": {"to": "to", "when": "when"}}}
    error = rejected(doc("socket", tables=socket_tables))
    assert (error.key, error.reason) == ("tables.sms.columns.when", "no group named 'when' in path")

    error = rejected(doc("socket", tables={"sms": {"path": "(", "columns": {"x": "x"}}}))
    assert error.key == "tables.sms.path"


def test_socket_fixed_columns_must_be_start_end():
    base = {"parse": "fixed", "pattern": None}
    error = rejected(doc("socket", **base, fields={"plan": {"path": "a:b"}}))
    assert (error.key, error.reason) == ("fields.plan.path", "expected start:end character columns, got 'a:b'")
    error = rejected(doc("socket", **base, fields={"plan": {"path": "9:3"}}))
    assert "end must be greater than start" in error.reason
    adapter = build_adapter(doc("socket", **base, fields={"plan": {"path": "0:8"}}), "x.toml")
    assert adapter.options.parse == "fixed"


def test_not_found_and_login_page_paths_are_checked():
    assert rejected(doc("html", not_found="//div[")).key == "not_found"
    login = {
        "url": "http://127.0.0.1:1/login",
        "username_field": "u",
        "password_field": "p",
        "credentials": "SYS",
        "login_page": "//form[",
    }
    assert rejected(doc("html", login=login)).key == "login.login_page"
    assert rejected(doc("xml", not_found="//v:none[")).key == "not_found"


def test_common_keys_and_unknown_kind():
    error = rejected({"id": "Bad Id", "name": "x", "kind": "html", "url": "http://h/"})
    assert error.key == "id"
    error = rejected({"id": "sys", "name": "x", "kind": "carrier-pigeon"})
    assert (error.key, error.reason) == ("kind", "unknown adapter kind 'carrier-pigeon'")
    error = rejected({**doc("html"), "timeout_s": 0})
    assert error.key == "timeout_s"


def test_method_is_case_insensitive():
    adapter = build_adapter(doc("html", method="post"), "x.toml")
    assert adapter.options.method == "POST"


def test_soap_settings_are_hardened_and_timeouts_always_set():
    assert SETTINGS.forbid_dtd and SETTINGS.forbid_entities and SETTINGS.forbid_external
    assert SETTINGS.xml_huge_tree is False
    import requests

    transport = DeadlineTransport(requests.Session())
    assert transport.operation_timeout is not None and transport.load_timeout is not None
    assert "file://" not in transport.session.adapters
