"""The XML-over-HTTP systems (VAS, portability, WAP): namespaced answers and explicit not-found."""

from __future__ import annotations

import pytest
from lxml import etree

from portal.demo import data

pytestmark = pytest.mark.backoffice

SYSTEMS = {"vas": ("/vas/subscriptions", "urn:demotel:vas:v1"),
           "portability": ("/mnp/status", "urn:demotel:mnp:v1"),
           "wap": ("/wap/profile", "urn:demotel:wap:v1")}


def url_of(office, system_id: str) -> str:
    return office.systems[system_id].base_url + SYSTEMS[system_id][0]


def query(http, office, system_id: str, number: str, namespaced: bool = True):
    url, ns = url_of(office, system_id), SYSTEMS[system_id][1]
    body = (f'<q:query xmlns:q="{ns}"><q:msisdn>{number}</q:msisdn></q:query>' if namespaced
            else f"<query><msisdn>{number}</msisdn></query>")
    response = http.post(url, data=body.encode(), headers={"Content-Type": "application/xml"}, timeout=5)
    return response, etree.fromstring(response.content)


def test_vas_lists_the_subscriptions(backoffice, http):
    response, root = query(http, backoffice, "vas", "13800000000")
    ns = {"v": "urn:demotel:vas:v1"}
    expected = data.vas("13800000000")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/xml")
    assert root.tag == "{urn:demotel:vas:v1}subscriptions" and root.get("msisdn") == "13800000000"
    assert root.xpath("string(v:subscriber/v:name)", namespaces=ns) == expected.name
    rows = [(r.findtext("v:service", namespaces=ns), r.findtext("v:code", namespaces=ns),
             r.findtext("v:since", namespaces=ns), r.findtext("v:fee", namespaces=ns))
            for r in root.xpath("v:subscription", namespaces=ns)]
    assert rows == [(s.service, s.code, s.since.isoformat(), str(s.fee)) for s in expected.subscriptions]
    assert root.get("count") == str(len(rows)) and len(rows) >= 2


def test_portability_and_wap_answer_their_fields(backoffice, http):
    _, mnp = query(http, backoffice, "portability", "13800000000")
    porting = data.portability("13800000000")
    assert mnp.tag == "{urn:demotel:mnp:v1}portingStatus"
    assert mnp.findtext("{urn:demotel:mnp:v1}status") == porting.status
    assert mnp.findtext("{urn:demotel:mnp:v1}donorOperator") == porting.donor_operator

    _, wap = query(http, backoffice, "wap", "13800000000", namespaced=False)  # un-namespaced msisdn is accepted too
    profile = data.wap("13800000000")
    assert wap.tag == "{urn:demotel:wap:v1}profile"
    assert wap.findtext("{urn:demotel:wap:v1}apn") == profile.apn
    assert wap.findtext("{urn:demotel:wap:v1}dataEnabled") == ("true" if profile.data_enabled else "false")
    assert wap.findtext("{urn:demotel:wap:v1}usageMb") == str(profile.usage_mb)


@pytest.mark.parametrize("system_id", SYSTEMS)
def test_unknown_customer_is_http_200_with_a_not_found_element(backoffice, http, system_id):
    number = data.unknown_numbers(system_id)[0]
    response, root = query(http, backoffice, system_id, number)
    _, ns = SYSTEMS[system_id]
    assert response.status_code == 200
    assert root.tag == f"{{{ns}}}error" and root.get("code") == "NOT_FOUND" and root.get("msisdn") == number
    known_number = next(n for n in ("13800000001", "13800000002", "13800000003") if data.known(system_id, n))
    assert query(http, backoffice, system_id, known_number)[1].tag != f"{{{ns}}}error"


@pytest.mark.parametrize("body", [b"not xml", b"<query/>",
                                  b'<!DOCTYPE q [<!ENTITY n "13800000000">]><query><msisdn>&n;</msisdn></query>'])
def test_unusable_requests_are_http_400_bad_request(backoffice, http, body):
    response = http.post(url_of(backoffice, "vas"), data=body, timeout=5)
    assert response.status_code == 400
    root = etree.fromstring(response.content)
    assert root.tag == "{urn:demotel:vas:v1}error" and root.get("code") == "BAD_REQUEST"
