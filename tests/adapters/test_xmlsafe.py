"""The hardened XML/HTML parsing of portal.adapters.xmlsafe: hostile documents are refused."""

from __future__ import annotations

import pytest

from portal.adapters import xmlsafe
from portal.errors import BackendProtocolError

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"""


def test_well_formed_document_parses():
    root = xmlsafe.parse_xml(b"<a xmlns='urn:x'><b>1</b></a>")
    assert root.tag == "{urn:x}a"


def test_billion_laughs_is_refused():
    with pytest.raises(xmlsafe.UnsafeXml, match="entity"):
        xmlsafe.parse_xml(BILLION_LAUGHS)


def test_external_entity_is_refused_and_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    doc = f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]><r>&xxe;</r>'.encode()
    with pytest.raises(BackendProtocolError) as info:
        xmlsafe.parse_xml(doc)
    assert "TOP SECRET" not in str(info.value)


def test_external_dtd_is_refused(tmp_path):
    dtd = tmp_path / "x.dtd"
    dtd.write_text('<!ENTITY injected "INJECTED">')
    with pytest.raises(BackendProtocolError):
        xmlsafe.parse_xml(f'<!DOCTYPE r SYSTEM "file://{dtd}"><r>&injected;</r>'.encode())
    with pytest.raises(xmlsafe.UnsafeXml, match="DTD"):
        xmlsafe.parse_xml(f'<!DOCTYPE r SYSTEM "file://{dtd}"><r/>'.encode())


def test_network_dtd_is_refused_without_network():
    # Port 9 (discard) on loopback: even if it were fetched, nothing could answer; no_network stops it first.
    with pytest.raises(BackendProtocolError):
        xmlsafe.parse_xml(b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><r/>')


def test_parameter_entity_is_refused():
    with pytest.raises(BackendProtocolError):
        xmlsafe.parse_xml(b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p"> %p;]><r/>')


def test_bare_doctype_is_refused():
    with pytest.raises(xmlsafe.UnsafeXml, match="DTD"):
        xmlsafe.parse_xml(b"<!DOCTYPE r><r/>")


def test_oversize_is_refused_before_parsing():
    doc = b"<r>" + b"x" * 2000 + b"</r>"
    with pytest.raises(xmlsafe.UnsafeXml, match="response larger than 1000 bytes"):
        xmlsafe.parse_xml(doc, max_bytes=1000)
    assert xmlsafe.parse_xml(doc, max_bytes=len(doc)).text == "x" * 2000


def test_malformed_and_empty_documents_are_protocol_errors():
    with pytest.raises(BackendProtocolError, match="not well-formed"):
        xmlsafe.parse_xml(b"<a><b></a>")
    with pytest.raises(BackendProtocolError, match="empty"):
        xmlsafe.parse_xml(b"  ")


def test_only_bytes_are_accepted():
    with pytest.raises(TypeError):
        xmlsafe.parse_xml("<a/>")  # type: ignore[arg-type]


def test_parser_flags_are_the_hardened_ones():
    # lxml does not expose its options; behaviour shows them: entities stay unexpanded.
    parser = xmlsafe.make_xml_parser()
    from lxml import etree

    root = etree.fromstring(b'<!DOCTYPE r [<!ENTITY e "expanded">]><r>&e;</r>', parser)
    assert "expanded" not in etree.tostring(root).decode()


def test_html_charset_override_and_meta_detection():
    page = "<html><body><p>彩铃 中文</p></body></html>".encode("gbk")
    assert xmlsafe.parse_html(page, encoding="gbk").text_content() == "彩铃 中文"
    with_meta = "<html><head><meta charset='gbk'></head><body>中文</body></html>".encode("gbk")
    assert "中文" in xmlsafe.parse_html(with_meta).text_content()


def test_html_size_limit_and_unknown_charset():
    with pytest.raises(BackendProtocolError, match="response larger than 10 bytes"):
        xmlsafe.parse_html(b"<html><body>" + b"x" * 100 + b"</body></html>", max_bytes=10)
    with pytest.raises(BackendProtocolError, match="charset"):
        xmlsafe.parse_html(b"<html></html>", encoding="no-such-charset")
