"""The SOAP systems (BOSS, payments, roaming) over loopback: real WSDLs, typed answers, faults."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from portal.demo import data

pytestmark = pytest.mark.backoffice

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
           "xsd": "http://www.w3.org/2001/XMLSchema"}
ENDPOINTS = {"boss": ("/boss", "urn:demotel:boss:v1", "GetSubscriber"),
             "payments": ("/payments", "urn:demotel:payments:v1", "GetPayments"),
             "roaming": ("/roaming", "urn:demotel:roaming:v1", "GetRoamingStatus")}


def endpoint(office, system_id: str) -> str:
    """The system's SOAP endpoint on the port the back office got (its WSDL is this plus ``?wsdl``)."""
    return office.systems[system_id].base_url + ENDPOINTS[system_id][0]


def zeep_client(url: str) -> zeep.Client:
    session = requests.Session()
    session.trust_env = False
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    return zeep.Client(f"{url}?wsdl", transport=Transport(session=session, timeout=5, operation_timeout=5),
                       settings=settings)


def post_envelope(http, office, system_id: str, inner: str) -> requests.Response:
    url = endpoint(office, system_id)
    body = f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>{inner}</soap:Body></soap:Envelope>'
    return http.post(url, data=body.encode(), headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=5)


def fault_of(response: requests.Response) -> tuple[str, str]:
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, response.text
    return fault.findtext("faultcode"), fault.findtext("faultstring")


@pytest.mark.parametrize("system_id", ENDPOINTS)
def test_wsdl_is_document_literal_and_points_at_the_system_itself(backoffice, http, system_id):
    _, namespace, operation = ENDPOINTS[system_id]
    url = endpoint(backoffice, system_id)
    response = http.get(f"{url}?wsdl", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/xml")
    wsdl = etree.fromstring(response.content)
    assert wsdl.get("targetNamespace") == namespace
    assert wsdl.xpath("//soap:address/@location", namespaces=WSDL_NS) == [url]
    assert wsdl.xpath("//soap:binding/@style", namespaces=WSDL_NS) == ["document"]
    assert set(wsdl.xpath("//soap:body/@use", namespaces=WSDL_NS)) == {"literal"}
    assert wsdl.xpath("/wsdl:definitions/wsdl:types/xsd:schema/xsd:element/@name", namespaces=WSDL_NS) == \
        [operation, f"{operation}Response", "noSuchSubscriber"]
    assert backoffice.systems[system_id].base_url == url.rsplit("/", 1)[0]


def test_zeep_get_subscriber_returns_typed_values(backoffice):
    client = zeep_client(endpoint(backoffice, "boss"))
    expected = data.boss("13800000000")
    subscriber = client.service.GetSubscriber(msisdn="13800000000")
    assert subscriber.name == expected.name and subscriber.idNumber == expected.id_number
    assert subscriber.status == expected.status and subscriber.accountId == expected.account_id
    assert subscriber.plan.name == expected.plan_name
    assert isinstance(subscriber.plan.monthlyFee, Decimal) and subscriber.plan.monthlyFee == expected.monthly_fee
    assert isinstance(subscriber.account.balance, Decimal) and subscriber.account.balance == expected.balance
    assert subscriber.account.creditLimit == expected.credit_limit
    bills = subscriber.bills.bill
    assert len(bills) == 6
    assert [(b.month, b.amount, b.paid) for b in bills] == [(b.month, b.amount, b.paid) for b in expected.bills]
    assert all(isinstance(b.paid, bool) and isinstance(b.amount, Decimal) for b in bills)


def test_zeep_payments_and_roaming_return_typed_values(backoffice):
    answer = zeep_client(endpoint(backoffice, "payments")).service.GetPayments(msisdn="13800000000")
    expected = data.payments("13800000000")
    assert isinstance(answer.lastTopUp, date) and answer.lastTopUp == expected.last_top_up
    assert answer.autoTopUp is expected.auto_top_up
    assert [(p.date, p.amount, p.channel) for p in answer.payments.payment] == \
        [(p.date, p.amount, p.channel) for p in expected.payments]

    status = zeep_client(endpoint(backoffice, "roaming")).service.GetRoamingStatus(msisdn="13800000000")
    expected_roaming = data.roaming("13800000000")
    assert status.enabled is expected_roaming.enabled and status.zone == expected_roaming.zone
    assert status.currentCountry == expected_roaming.current_country
    assert isinstance(status.dailyCap, Decimal) and status.dailyCap == expected_roaming.daily_cap


@pytest.mark.parametrize("system_id", ENDPOINTS)
def test_unknown_customer_is_a_client_fault_naming_no_such_subscriber(backoffice, system_id):
    _, _, operation = ENDPOINTS[system_id]
    url = endpoint(backoffice, system_id)
    number = data.unknown_numbers(system_id)[0]
    with pytest.raises(zeep.exceptions.Fault) as caught:
        getattr(zeep_client(url).service, operation)(msisdn=number)
    assert caught.value.code == "soap:Client"
    assert caught.value.message.startswith("NO_SUCH_SUBSCRIBER") and number in caught.value.message


def test_raw_fault_is_http_500_with_soap_client_code_and_detail(backoffice, http):
    response = post_envelope(http, backoffice, "boss", '<b:GetSubscriber xmlns:b="urn:demotel:boss:v1">'
                                           "<b:msisdn>13900000000</b:msisdn></b:GetSubscriber>")
    assert response.status_code == 500 and response.headers["Content-Type"].startswith("text/xml")
    code, message = fault_of(response)
    assert code == "soap:Client" and "NO_SUCH_SUBSCRIBER" in message
    detail = etree.fromstring(response.content).find(f".//{{{SOAP_ENV}}}Fault/detail")
    assert detail[0].tag == "{urn:demotel:boss:v1}noSuchSubscriber"


def test_raw_request_gets_a_soap_11_answer(backoffice, http):
    response = post_envelope(http, backoffice, "roaming", '<r:GetRoamingStatus xmlns:r="urn:demotel:roaming:v1">'
                                              "<r:msisdn>13800000000</r:msisdn></r:GetRoamingStatus>")
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    answer = root.find(f"{{{SOAP_ENV}}}Body")[0]
    assert answer.tag == "{urn:demotel:roaming:v1}GetRoamingStatusResponse"
    assert answer.findtext("{urn:demotel:roaming:v1}enabled") in ("true", "false")


def test_wrong_operation_and_malformed_requests_are_client_faults(backoffice, http):
    wrong = post_envelope(http, backoffice, "boss", '<b:DeleteSubscriber xmlns:b="urn:demotel:boss:v1"/>')
    assert wrong.status_code == 500 and fault_of(wrong)[1].startswith("UNKNOWN_OPERATION")
    broken = http.post(endpoint(backoffice, "boss"), data=b"<soap:Envelope", timeout=5)
    assert broken.status_code == 500 and fault_of(broken)[1].startswith("MALFORMED_REQUEST")
    not_soap = http.post(endpoint(backoffice, "boss"), data=b"<hello/>", timeout=5)
    assert fault_of(not_soap)[1].startswith("MALFORMED_REQUEST")


def test_entities_and_dtds_are_refused_not_expanded(backoffice, http):
    hostile = (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
               b'<b:GetSubscriber xmlns:b="urn:demotel:boss:v1"><b:msisdn>&x;</b:msisdn></b:GetSubscriber>'
               b"</soap:Body></soap:Envelope>")
    response = http.post(endpoint(backoffice, "boss"), data=hostile, timeout=5)
    assert response.status_code == 500
    assert fault_of(response)[1] == "MALFORMED_REQUEST: DTDs are not accepted"
    assert "root:" not in response.text
