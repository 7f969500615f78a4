"""The soap kind against an in-test WSDL and scripted SOAP answers."""

from __future__ import annotations

import time

import pytest
import zeep.cache

from portal.adapters import soap, soapclient
from portal.adapters.base import Status
from portal.adapters.boundary import Boundary

from .conftest import Reply, free_port

WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="T" targetNamespace="urn:t" xmlns:tns="urn:t"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <wsdl:types>
    <xsd:schema targetNamespace="urn:t" elementFormDefault="qualified">
      {imports}
      <xsd:element name="Get"><xsd:complexType><xsd:sequence>
        <xsd:element name="msisdn" type="xsd:string"/></xsd:sequence></xsd:complexType></xsd:element>
      <xsd:element name="GetResponse"><xsd:complexType><xsd:sequence>
        <xsd:element name="plan" type="tns:Plan"/>
        <xsd:element name="bills"><xsd:complexType><xsd:sequence>
          <xsd:element name="bill" type="tns:Bill" minOccurs="0" maxOccurs="unbounded"/>
        </xsd:sequence></xsd:complexType></xsd:element>
      </xsd:sequence></xsd:complexType></xsd:element>
      <xsd:complexType name="Plan"><xsd:sequence>
        <xsd:element name="name" type="xsd:string"/><xsd:element name="fee" type="xsd:decimal"/>
      </xsd:sequence></xsd:complexType>
      <xsd:complexType name="Bill"><xsd:sequence>
        <xsd:element name="month" type="xsd:string"/><xsd:element name="amount" type="xsd:decimal"/>
        <xsd:element name="paid" type="xsd:boolean"/>
      </xsd:sequence></xsd:complexType>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="GetIn"><wsdl:part name="parameters" element="tns:Get"/></wsdl:message>
  <wsdl:message name="GetOut"><wsdl:part name="parameters" element="tns:GetResponse"/></wsdl:message>
  <wsdl:portType name="PT"><wsdl:operation name="Get">
    <wsdl:input message="tns:GetIn"/><wsdl:output message="tns:GetOut"/></wsdl:operation></wsdl:portType>
  <wsdl:binding name="B" type="tns:PT">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Get"><soap:operation soapAction="urn:t#Get"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="S"><wsdl:port name="P" binding="tns:B"><soap:address location="{address}"/></wsdl:port></wsdl:service>
</wsdl:definitions>"""

ENV = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{}</s:Body></s:Envelope>'

ANSWER = ENV.format(
    '<GetResponse xmlns="urn:t"><plan><name>Gold 88</name><fee>88.00</fee></plan><bills>'
    "<bill><month>2026-05</month><amount>88.00</amount><paid>true</paid></bill>"
    "<bill><month>2026-04</month><amount>90.5</amount><paid>false</paid></bill>"
    "<unexpected>tolerated</unexpected></bills></GetResponse>"
).encode()


def fault(message: str, detail: str = "") -> bytes:
    detail_xml = f"<detail><reason>{detail}</reason></detail>" if detail else ""
    return ENV.format(
        f"<s:Fault><faultcode>s:Client</faultcode><faultstring>{message}</faultstring>{detail_xml}</s:Fault>"
    ).encode()


@pytest.fixture(autouse=True)
def fresh_clients():
    soap.clear_client_cache()
    yield
    soap.clear_client_cache()


def serve_wsdl(web, imports: str = "") -> None:
    text = WSDL.format(address=web.url + "/svc", imports=imports).encode()
    web.route("GET", "/svc", Reply(body=text, content_type="text/xml; charset=utf-8"))


def soap_doc(web, **doc):
    return {
        "wsdl": web.url + "/svc?wsdl",
        "operation": "Get",
        "args": {"msisdn": "{customer}"},
        "not_found_faults": ["NO_SUCH_SUBSCRIBER"],
        "timeout_s": 2.0,
        "fields": {"plan": {"path": "plan.name"}, "fee": {"path": "plan.fee"}, "first": {"path": "bills.bill.0.amount"},
                   "missing": {"path": "plan.nothing"}},
        "tables": {"bills": {"path": "bills.bill", "columns": {"month": "month", "amount": "amount", "paid": "paid"}}},
        **doc,
    }


def test_ok_with_dotted_paths_and_tables(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml; charset=utf-8"))
    adapter = make_adapter("soap", **soap_doc(web))
    result = adapter.lookup("13800000000", correlation_id="corr-soap")
    assert result.status is Status.OK, result.error
    assert result.fields == {"plan": "Gold 88", "fee": "88.00", "first": "88.00", "missing": None}
    assert result.tables["bills"] == [
        {"month": "2026-05", "amount": "88.00", "paid": "true"},
        {"month": "2026-04", "amount": "90.5", "paid": "false"},
    ]
    post = [s for s in web.seen if s.method == "POST"][-1]
    assert b"<ns0:msisdn>13800000000</ns0:msisdn>" in post.body
    assert post.headers["X-Correlation-ID"] == "corr-soap"


def test_wsdl_is_parsed_once_per_process_for_all_adapters(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    first = make_adapter("soap", **soap_doc(web))
    second = make_adapter("soap", **soap_doc(web, fields={"plan": {"path": "plan.name"}}, tables={}))
    for adapter in (first, second, first, second):
        assert adapter.lookup("1").status is Status.OK
    assert len([s for s in web.seen if s.method == "GET"]) == 1
    assert list(soap._clients) == [web.url + "/svc?wsdl"]


def test_not_found_fault_by_message_or_detail(web, make_adapter):
    serve_wsdl(web)
    adapter = make_adapter("soap", **soap_doc(web))
    web.route("POST", "/svc", Reply(status=500, body=fault("NO_SUCH_SUBSCRIBER: 1 unknown"), content_type="text/xml"))
    result = adapter.lookup("1")
    assert result.status is Status.NOT_FOUND
    assert "NO_SUCH_SUBSCRIBER" in result.error

    web.route("POST", "/svc", Reply(status=500, body=fault("lookup failed", detail="no_such_subscriber"), content_type="text/xml"))
    assert adapter.lookup("1").status is Status.NOT_FOUND


def test_other_faults_are_errors(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(status=500, body=fault("DATABASE_DOWN: try later"), content_type="text/xml"))
    result = make_adapter("soap", **soap_doc(web)).lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "SOAP fault: DATABASE_DOWN: try later")


def test_http_error_with_an_html_page(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(status=502, body=b"<html><body>Bad gateway</body>"))
    result = make_adapter("soap", **soap_doc(web)).lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "HTTP 502 from system")


def test_system_down_while_building_is_unavailable_and_retried(web, make_adapter):
    dead = make_adapter("soap", **soap_doc(web, wsdl=f"http://127.0.0.1:{free_port()}/svc?wsdl"))
    result = dead.lookup("1")
    assert (result.status, result.error) == (Status.UNAVAILABLE, "connection refused")
    assert soap._clients == {}

    web.route("GET", "/svc", Reply(status=503, body=b"down for maintenance"))
    adapter = make_adapter("soap", **soap_doc(web))
    assert adapter.lookup("1").error == "HTTP 503 from system for its WSDL"
    serve_wsdl(web)  # the system is back: the next lookup builds the client
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    assert adapter.lookup("1").status is Status.OK


def test_hanging_operation_times_out_within_the_budget(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    adapter = make_adapter("soap", **soap_doc(web, timeout_s=0.4))
    assert adapter.lookup("1").status is Status.OK  # builds the client
    web.route("POST", "/svc", Reply(body=ANSWER, delay=10))
    started = time.monotonic()
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.TIMEOUT, "no answer within 0.4 s")
    assert time.monotonic() - started < 0.7


def test_hostile_wsdl_and_answers_are_refused(web, make_adapter):
    web.route("GET", "/svc", Reply(body=b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'))
    result = make_adapter("soap", **soap_doc(web)).lookup("1")
    assert result.status is Status.ERROR and "refused" in result.error

    serve_wsdl(web, imports='<xsd:import namespace="urn:x" schemaLocation="file:///etc/passwd"/>')
    result = make_adapter("soap", **soap_doc(web)).lookup("1")
    assert result.status is Status.ERROR
    assert "not http(s)" in result.error

    soap.clear_client_cache()
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=b'<!DOCTYPE s [<!ENTITY a "b">]>' + ANSWER, content_type="text/xml"))
    result = make_adapter("soap", **soap_doc(web)).lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "XML document declares entity 'a' (refused)")


def test_unknown_operation_and_bad_arguments(web, make_adapter):
    serve_wsdl(web)
    result = make_adapter("soap", **soap_doc(web, operation="Nope")).lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "operation 'Nope' not in the WSDL")
    result = make_adapter("soap", **soap_doc(web, args={"wrong": "{customer}"})).lookup("1")
    assert result.status is Status.ERROR and result.error.startswith("arguments do not fit Get")


# -- WSDL disk cache, WS-Security, limits, raw answers ------------------------------------


@pytest.fixture
def cache_dir(tmp_path):
    """An app's WSDL cache folder, lent to its adapters through their boundary."""
    return tmp_path / "cache"


def test_wsdl_is_cached_on_disk_between_runs(web, make_adapter, cache_dir):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    app = Boundary(wsdl_cache_dir=cache_dir)
    assert make_adapter("soap", boundary=app, **soap_doc(web)).lookup("1").status is Status.OK
    assert (cache_dir / soapclient.WSDL_CACHE_FILE).is_file()

    soap.clear_client_cache()  # a new process: no client in memory ...
    web.route("GET", "/svc", Reply(status=503, body=b"WSDL endpoint down"))  # ... and no WSDL online
    result = make_adapter("soap", boundary=app, **soap_doc(web)).lookup("1")
    assert result.status is Status.OK, result.error
    assert [s.path for s in web.seen if s.method == "GET"] == ["/svc?wsdl"]  # fetched once, ever

    soap.clear_client_cache()  # another app (no cache folder) gets nothing from this one's cache
    result = make_adapter("soap", **soap_doc(web)).lookup("1")
    assert result.error == "HTTP 503 from system for its WSDL"

    soap.clear_client_cache(disk=True)
    result = make_adapter("soap", boundary=app, **soap_doc(web)).lookup("1")
    assert result.error == "HTTP 503 from system for its WSDL"


def test_a_tampered_cache_entry_is_refused_and_fetched_again(web, make_adapter, cache_dir):
    cache = soap.open_cache(cache_dir)
    url = web.url + "/svc?wsdl"
    cache.add(url, b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>')
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    adapter = make_adapter("soap", boundary=Boundary(wsdl_cache_dir=cache_dir), **soap_doc(web))
    assert adapter.lookup("1").status is Status.OK


def test_unusable_cache_dir_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = soap.open_cache(blocker / "cache")
    assert isinstance(cache, zeep.cache.InMemoryCache)
    assert soap.open_cache(blocker / "cache") is cache  # one per folder


def test_ws_security_username_token(web, make_adapter, monkeypatch):
    monkeypatch.setenv("PORTAL_CRED_BOSS_USERNAME", "portal")
    monkeypatch.setenv("PORTAL_CRED_BOSS_PASSWORD", "pa55")
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    plain = make_adapter("soap", **soap_doc(web, wsse={"credentials": "BOSS"}))
    digest = make_adapter("soap", **soap_doc(web, wsse={"credentials": "BOSS", "digest": True}))
    none = make_adapter("soap", **soap_doc(web))
    assert plain.lookup("1").status is Status.OK
    body = [s for s in web.seen if s.method == "POST"][-1].body
    assert b"<wsse:Username>portal</wsse:Username>" in body
    assert b"#PasswordText\">pa55</wsse:Password>" in body

    assert digest.lookup("1").status is Status.OK
    body = [s for s in web.seen if s.method == "POST"][-1].body
    assert b"#PasswordDigest" in body and b"pa55" not in body and b"<wsse:Nonce" in body

    assert none.lookup("1").status is Status.OK  # the same shared client, without a token
    assert b"wsse" not in [s for s in web.seen if s.method == "POST"][-1].body


def test_ws_security_without_credentials_is_a_short_error(web, make_adapter, monkeypatch):
    monkeypatch.delenv("PORTAL_CRED_NOPE_USERNAME", raising=False)
    serve_wsdl(web)
    result = make_adapter("soap", **soap_doc(web, wsse={"credentials": "NOPE"})).lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "credentials PORTAL_CRED_NOPE_* not set")


def test_max_bytes_limits_answers(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    result = make_adapter("soap", **soap_doc(web, max_bytes=200)).lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "response larger than 200 bytes")
    assert make_adapter("soap", **soap_doc(web)).lookup("1").status is Status.OK  # the WSDL's limit is its own


def test_raw_excerpt_is_the_soap_answer_not_the_wsdl(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(status=500, body=fault("DATABASE_DOWN"), content_type="text/xml"))
    result = make_adapter("soap", **soap_doc(web)).lookup("1", capture_raw=True)
    assert result.status is Status.ERROR
    assert result.raw_excerpt == fault("DATABASE_DOWN").decode()


def test_correlation_id_goes_as_an_http_header(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    make_adapter("soap", **soap_doc(web)).lookup("1", correlation_id="abc-123")
    assert [s for s in web.seen if s.method == "POST"][-1].headers["X-Correlation-ID"] == "abc-123"


def test_the_last_adapter_of_a_wsdl_releases_the_client(web, make_adapter):
    serve_wsdl(web)
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml"))
    first = make_adapter("soap", **soap_doc(web))
    second = make_adapter("soap", **soap_doc(web))
    assert first.lookup("1").status is Status.OK
    first.close()
    first.close()  # twice is harmless
    assert list(soap._clients) == [web.url + "/svc?wsdl"]
    assert second.lookup("1").status is Status.OK
    second.close()
    assert soap._clients == {}


def test_wsse_options_are_validated():
    from portal.adapters.registry import build_adapter
    from portal.errors import ConfigError

    doc = {"id": "sys", "name": "S", "kind": "soap", "wsdl": "http://127.0.0.1:1/s?wsdl", "operation": "Get"}
    with pytest.raises(ConfigError) as info:
        build_adapter({**doc, "wsse": {"credentials": "BOSS", "password": "inline"}}, "x.toml")
    assert (info.value.key, info.value.reason) == ("wsse.password", "unknown key")
    with pytest.raises(ConfigError) as info:
        build_adapter({**doc, "max_bytes": 0}, "x.toml")
    assert info.value.key == "max_bytes"
