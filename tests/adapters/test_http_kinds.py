"""The html and xml kinds and their HTTP plumbing, against a scripted loopback server."""

from __future__ import annotations

import time

from portal.adapters.base import Status

from .conftest import Reply, free_port

PAGE = """<html><head><title>Loyalty</title></head><body>
<div id="tier">  Gold
  member </div><span class="points">1 200</span>
<table><tr class="tx"><td>06-01</td><td>+100</td></tr><tr class="tx"><td>06-02</td><td>-50</td></tr></table>
</body></html>"""


def html_doc(web, **doc):
    return {
        "url": web.url + "/customer/{customer}",
        "timeout_s": 1.0,
        "not_found": "//p[@class='unknown']",
        "fields": {"tier": {"path": "//div[@id='tier']"}, "points": {"path": "css:span.points"}},
        "tables": {"tx": {"path": "//tr[@class='tx']", "columns": {"day": "td[1]", "delta": "td[2]"}}},
        **doc,
    }


def test_html_ok_with_xpath_css_and_tables(web, make_adapter):
    web.route("GET", "/customer/13800000000", Reply(body=PAGE.encode()))
    adapter = make_adapter("html", **html_doc(web))
    result = adapter.lookup("13800000000", correlation_id="corr-1")
    assert result.status is Status.OK, result.error
    assert result.fields == {"tier": "Gold member", "points": "1 200"}
    assert result.tables == {"tx": [{"day": "06-01", "delta": "+100"}, {"day": "06-02", "delta": "-50"}]}
    seen = web.seen[-1]
    assert seen.headers["X-Correlation-ID"] == "corr-1"


def test_html_key_is_url_quoted_and_params_are_templates(web, make_adapter):
    web.route("GET", "/search", Reply(body=PAGE.encode()))
    adapter = make_adapter(
        "html", **html_doc(web, url=web.url + "/search", params={"msisdn": "{customer}", "view": "full"})
    )
    assert adapter.lookup("138 00&x=1").status is Status.OK
    assert web.seen[-1].path == "/search?msisdn=138+00%26x%3D1&view=full"

    web.route("GET", "/customer/a%2Fb%3F", Reply(body=PAGE.encode()))
    adapter = make_adapter("html", **html_doc(web))
    assert adapter.lookup("a/b?").status is Status.OK


def test_html_post_sends_form_fields(web, make_adapter):
    web.route("POST", "/query", Reply(body=PAGE.encode()))
    adapter = make_adapter("html", **html_doc(web, url=web.url + "/query", method="POST", params={"n": "{customer}"}))
    assert adapter.lookup("13800000000").status is Status.OK
    assert web.seen[-1].body == b"n=13800000000"


def test_html_charset_override(web, make_adapter):
    body = "<html><body><div id='tone'>月光  曲</div></body></html>".encode("gbk")
    # The server lies (claims UTF-8); the adapter's charset wins.
    web.route("GET", "/customer/1", Reply(body=body, content_type="text/html; charset=utf-8"))
    adapter = make_adapter(
        "html", **html_doc(web, charset="gbk", fields={"tone": {"path": "//div[@id='tone']"}}, tables={})
    )
    assert adapter.lookup("1").fields == {"tone": "月光 曲"}


def test_html_not_found_even_on_a_404_page(web, make_adapter):
    unknown = b"<html><body><p class='unknown'>No such customer</p></body></html>"
    web.route("GET", "/customer/1", Reply(body=unknown))
    web.route("GET", "/customer/2", Reply(status=404, body=unknown))
    adapter = make_adapter("html", **html_doc(web))
    assert adapter.lookup("1").status is Status.NOT_FOUND
    assert adapter.lookup("2").status is Status.NOT_FOUND


def test_http_errors_are_short_messages(web, make_adapter):
    web.route("GET", "/customer/1", Reply(status=503, body=b"<html>Traceback (most recent call last)...</html>"))
    adapter = make_adapter("html", **html_doc(web))
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "HTTP 503 from system")


def test_oversize_answers_are_errors(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=b"<html>" + b"x" * 5000 + b"</html>"))
    adapter = make_adapter("html", **html_doc(web, max_bytes=1000))
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "response larger than 1000 bytes")


def test_oversize_without_content_length_is_cut_while_streaming(web, make_adapter):
    big = b"<html>" + b"x" * 5000 + b"</html>"
    # A lying Content-Length smaller than max_bytes: the streamed count still stops it.
    web.route("GET", "/customer/1", lambda seen: Reply(body=big, headers={}))
    adapter = make_adapter("html", **html_doc(web, max_bytes=4000))
    assert adapter.lookup("1").error == "response larger than 4000 bytes"


def test_refused_is_unavailable(make_adapter):
    adapter = make_adapter("html", url=f"http://127.0.0.1:{free_port()}/c/{{customer}}")
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.UNAVAILABLE, "connection refused")


def test_hanging_system_times_out_within_its_budget(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=PAGE.encode(), delay=10))
    adapter = make_adapter("html", **html_doc(web, timeout_s=0.3))
    started = time.monotonic()
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.TIMEOUT, "no answer within 0.3 s")
    assert time.monotonic() - started < 0.6


def test_dripping_body_cannot_stretch_the_deadline(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=PAGE.encode(), drip=0.05))
    adapter = make_adapter("html", **html_doc(web, timeout_s=0.4))
    started = time.monotonic()
    result = adapter.lookup("1")
    assert result.status is Status.TIMEOUT
    assert time.monotonic() - started < 0.7


def test_environment_proxies_and_ca_bundles_do_not_leak_in(web, make_adapter, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    web.route("GET", "/customer/1", Reply(body=PAGE.encode()))
    adapter = make_adapter("html", **html_doc(web))
    assert adapter.lookup("1").status is Status.OK


def test_connections_are_pooled(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=PAGE.encode()))
    adapter = make_adapter("html", **html_doc(web))
    for _ in range(3):
        assert adapter.lookup("1").status is Status.OK
    assert len({seen.client_port for seen in web.seen}) == 1, "each lookup opened a new connection"


def test_required_field_missing_is_layout_drift(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=b"<html><body>nothing</body></html>"))
    adapter = make_adapter("html", **html_doc(web, fields={"tier": {"path": "//div[@id='tier']", "required": True}}))
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "layout changed: tier not found")
    assert result.fields == {} and result.tables == {}


def test_layout_drift_names_every_missing_required_field_by_label(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=b"<html><body><div id='tier'>Gold</div></body></html>"))
    fields = {
        "plan": {"path": "//td[@id='plan']", "label": "Plan", "required": True},
        "tier": {"path": "//div[@id='tier']", "label": "Tier", "required": True},
        "balance": {"path": "css:span.balance", "label": "Balance", "required": True},
        "note": {"path": "//p[@id='note']"},  # optional: an empty optional field is not drift
    }
    adapter = make_adapter("html", **html_doc(web, fields=fields, tables={}))
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "layout changed: Plan, Balance not found")

    web.route("GET", "/customer/1", Reply(body=b"<html><body><td id='plan'>P</td><div id='tier'>G</div>"
                                          b"<span class='balance'>1</span></body></html>"))
    result = adapter.lookup("1")
    assert result.status is Status.OK
    assert result.fields == {"plan": "P", "tier": "G", "balance": "1", "note": None}


def test_raw_excerpt_only_when_asked_and_never_in_to_dict(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=PAGE.encode()))
    adapter = make_adapter("html", **html_doc(web))
    assert adapter.lookup("1").raw_excerpt is None
    result = adapter.lookup("1", capture_raw=True)
    assert result.status is Status.OK
    assert result.raw_excerpt == PAGE
    assert "raw_excerpt" not in result.to_dict()
    assert result.to_dict(include_raw=True)["raw_excerpt"] == PAGE


def test_raw_excerpt_of_failed_lookups_is_cut_to_4000_characters(web, make_adapter):
    body = ("<html><body>" + "月" * 6000 + "</body></html>").encode()
    web.route("GET", "/customer/1", Reply(status=500, body=body))
    adapter = make_adapter("html", **html_doc(web))
    result = adapter.lookup("1", capture_raw=True)
    assert (result.status, result.error) == (Status.ERROR, "HTTP 500 from system")
    assert result.raw_excerpt == ("<html><body>" + "月" * 6000)[:4000]

    # Refused on its Content-Length alone: nothing was read, so there is nothing to show.
    web.route("GET", "/customer/1", Reply(body=b"<html>" + b"y" * 9000))
    result = make_adapter("html", **html_doc(web, max_bytes=4000)).lookup("1", capture_raw=True)
    assert (result.status, result.raw_excerpt) == (Status.ERROR, None)


def test_raw_excerpt_of_binary_answers_is_their_repr(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=b"\xff\xfe\x00garbage", content_type="application/octet-stream"))
    adapter = make_adapter("html", **html_doc(web))
    result = adapter.lookup("1", capture_raw=True)
    assert result.raw_excerpt == repr(b"\xff\xfe\x00garbage")


def test_unknown_charset_in_the_header_is_ignored_not_fatal(web, make_adapter):
    web.route("GET", "/customer/1", Reply(body=PAGE.encode(), content_type="text/html; charset=klingon"))
    adapter = make_adapter("html", **html_doc(web))
    result = adapter.lookup("1")
    assert result.status is Status.OK, result.error
    assert result.fields["tier"] == "Gold member"


# -- xml ----------------------------------------------------------------------------------

ANSWER = b"""<?xml version="1.0" encoding="UTF-8"?>
<vas:answer xmlns:vas="urn:demo:vas"><vas:status>ACTIVE</vas:status>
<vas:services><vas:service code="NEWS"><vas:name>Daily news</vas:name></vas:service>
<vas:service code="MUSIC"><vas:name>Music club</vas:name></vas:service></vas:services></vas:answer>"""


def xml_doc(web, **doc):
    return {
        "url": web.url + "/vas",
        "timeout_s": 1.0,
        "body": '<query customer="{customer}"><msisdn>{customer}</msisdn></query>',
        "namespaces": {"v": "urn:demo:vas"},
        "not_found": "//v:error[@code='NOT_FOUND']",
        "fields": {"status": {"path": "/v:answer/v:status"}},
        "tables": {"services": {"path": "//v:service", "columns": {"code": "@code", "name": "v:name"}}},
        **doc,
    }


def test_xml_ok_and_body_escaping(web, make_adapter):
    web.route("POST", "/vas", Reply(body=ANSWER, content_type="application/xml"))
    adapter = make_adapter("xml", **xml_doc(web))
    result = adapter.lookup("1<2>&\"'")
    assert result.status is Status.OK, result.error
    assert result.fields == {"status": "ACTIVE"}
    assert result.tables["services"] == [
        {"code": "NEWS", "name": "Daily news"},
        {"code": "MUSIC", "name": "Music club"},
    ]
    seen = web.seen[-1]
    assert seen.body == (
        b'<query customer="1&lt;2&gt;&amp;&quot;&apos;"><msisdn>1&lt;2&gt;&amp;&quot;&apos;</msisdn></query>'
    )
    assert seen.headers["Content-Type"] == "application/xml; charset=utf-8"


def test_xml_body_charset_follows_content_type(web, make_adapter):
    web.route("POST", "/vas", Reply(body=ANSWER, content_type="application/xml"))
    adapter = make_adapter(
        "xml", **xml_doc(web, body="<查询>{customer}</查询>", content_type="text/xml; charset=gbk")
    )
    assert adapter.lookup("1").status is Status.OK
    assert web.seen[-1].body == "<查询>1</查询>".encode("gbk")


def test_xml_not_found(web, make_adapter):
    web.route("POST", "/vas", Reply(body=b'<error xmlns="urn:demo:vas" code="NOT_FOUND"/>', content_type="application/xml"))
    adapter = make_adapter("xml", **xml_doc(web))
    assert adapter.lookup("1").status is Status.NOT_FOUND


def test_xml_hostile_or_broken_answers_are_errors(web, make_adapter):
    adapter = make_adapter("xml", **xml_doc(web))
    web.route("POST", "/vas", Reply(body=b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'))
    assert adapter.lookup("1").error == "XML document declares entity 'x' (refused)"
    web.route("POST", "/vas", Reply(body=b"<a><b></a>"))
    result = adapter.lookup("1")
    assert result.status is Status.ERROR and result.error.startswith("not well-formed XML")
    web.route("POST", "/vas", Reply(status=500, body=b"<html>oops</html>"))
    assert adapter.lookup("1").error == "HTTP 500 from system"
