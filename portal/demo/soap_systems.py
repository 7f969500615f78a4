"""The three SOAP 1.1 systems: BOSS billing & CRM, payments, roaming.

Each serves a real document/literal WSDL (``<name>.wsdl`` beside this module;
its ``soap:address`` is filled in with the system's own URL) at
``GET /<path>?wsdl`` and answers ``POST /<path>`` with a SOAP 1.1 envelope.

Wire format::

    POST /boss   Content-Type: text/xml   SOAPAction: "urn:demotel:boss:v1#GetSubscriber"
    <soap:Envelope><soap:Body><tns:GetSubscriber><tns:msisdn>138...</tns:msisdn>...
    -> 200 <soap:Envelope><soap:Body><tns:GetSubscriberResponse><tns:subscriber>...

An unknown customer is HTTP 500 with a ``soap:Fault`` whose ``faultcode`` is
``soap:Client`` and whose ``faultstring`` starts with ``NO_SUCH_SUBSCRIBER``
(the adapter lists it in ``not_found_faults``); a malformed request or an
unknown operation is a ``soap:Client`` fault too, with another code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from xml.sax.saxutils import quoteattr

from lxml import etree
from lxml.builder import ElementMaker
from werkzeug.wrappers import Request, Response

from portal.demo import data, ui
from portal.demo.catalogue import SystemSpec
from portal.demo.web import App, XmlRejected, parse_xml, text_response, xml_bytes

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"

Answer = Callable[[ElementMaker, str], "list[etree._Element] | None"]


@dataclass(frozen=True)
class SoapSystem:
    """How one SOAP system is reached and what its single operation answers."""

    path: str
    wsdl_file: str
    namespace: str
    operation: str
    answer: Answer  # the children of <operation>Response, or None for an unknown customer


def _text(value: object) -> str:
    """xsd lexical form: booleans lower-case, dates ISO, decimals as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _boss(E: ElementMaker, number: str) -> list[etree._Element] | None:
    s = data.boss(number)
    if s is None:
        return None
    bills = [E.bill(E.month(b.month), E.amount(_text(b.amount)), E.paid(_text(b.paid))) for b in s.bills]
    return [E.subscriber(
        E.msisdn(s.msisdn), E.name(s.name), E.idNumber(s.id_number), E.accountId(s.account_id),
        E.status(s.status),
        E.plan(E.name(s.plan_name), E.monthlyFee(_text(s.monthly_fee))),
        E.account(E.balance(_text(s.balance)), E.creditLimit(_text(s.credit_limit))),
        E.bills(*bills),
    )]


def _payments(E: ElementMaker, number: str) -> list[etree._Element] | None:
    p = data.payments(number)
    if p is None:
        return None
    rows = [E.payment(E.date(_text(x.date)), E.amount(_text(x.amount)), E.channel(x.channel)) for x in p.payments]
    return [E.lastTopUp(_text(p.last_top_up)), E.autoTopUp(_text(p.auto_top_up)), E.payments(*rows)]


def _roaming(E: ElementMaker, number: str) -> list[etree._Element] | None:
    r = data.roaming(number)
    if r is None:
        return None
    return [E.enabled(_text(r.enabled)), E.zone(r.zone), E.currentCountry(r.current_country),
            E.dailyCap(_text(r.daily_cap))]


SOAP_SYSTEMS: dict[str, SoapSystem] = {
    "boss": SoapSystem("/boss", "boss.wsdl", "urn:demotel:boss:v1", "GetSubscriber", _boss),
    "payments": SoapSystem("/payments", "payments.wsdl", "urn:demotel:payments:v1", "GetPayments", _payments),
    "roaming": SoapSystem("/roaming", "roaming.wsdl", "urn:demotel:roaming:v1", "GetRoamingStatus", _roaming),
}


def endpoint_url(system_id: str, host: str, port: int) -> str:
    """The SOAP endpoint (the WSDL is this plus ``?wsdl``)."""
    return f"http://{host}:{port}{SOAP_SYSTEMS[system_id].path}"


def wsdl_text(system_id: str, address: str) -> str:
    """The system's WSDL with ``soap:address`` pointing at ``address``."""
    template = resources.files("portal.demo").joinpath(SOAP_SYSTEMS[system_id].wsdl_file).read_text("utf-8")
    return template.replace('"{{ADDRESS}}"', quoteattr(address))


def build_app(spec: SystemSpec, host: str) -> App:
    """The WSGI app of one SOAP system: WSDL, endpoint and the customer screen."""
    system = SOAP_SYSTEMS[spec.id]
    address = endpoint_url(spec.id, host, spec.port)
    wsdl = wsdl_text(spec.id, address).encode("utf-8")
    app = App(spec.name)

    @app.route(system.path, methods=("GET", "POST"))
    def endpoint(request: Request) -> Response:
        if request.method == "GET":
            if any(key.lower() == "wsdl" for key in request.args):
                return Response(wsdl, content_type=SOAP_CONTENT_TYPE)
            return text_response(f"{spec.name}: SOAP 1.1 endpoint; WSDL at {address}?wsdl\n")
        return _call(system, spec, request.get_data())

    ui.add_screen_route(app, spec)
    return app


def _call(system: SoapSystem, spec: SystemSpec, body: bytes) -> Response:
    """Parse one request envelope, run the operation, wrap the answer or a fault."""
    try:
        envelope = parse_xml(body)
    except XmlRejected as exc:
        return _fault(f"MALFORMED_REQUEST: {exc}")
    soap_body = envelope.find(f"{{{SOAP_ENV}}}Body") if envelope.tag == f"{{{SOAP_ENV}}}Envelope" else None
    if soap_body is None:
        return _fault("MALFORMED_REQUEST: not a SOAP 1.1 envelope with a Body")
    call = next((child for child in soap_body if isinstance(child.tag, str)), None)
    expected = f"{{{system.namespace}}}{system.operation}"
    if call is None or call.tag != expected:
        return _fault(f"UNKNOWN_OPERATION: this endpoint answers {system.operation} in {system.namespace}")
    msisdn = (call.findtext(f"{{{system.namespace}}}msisdn") or "").strip()
    E = ElementMaker(namespace=system.namespace, nsmap={"tns": system.namespace})
    children = system.answer(E, msisdn)
    if children is None:
        detail = E.noSuchSubscriber(E.msisdn(msisdn))
        return _fault(f"NO_SUCH_SUBSCRIBER: {msisdn} is not a subscriber of {spec.name}", detail)
    return Response(_envelope(getattr(E, f"{system.operation}Response")(*children)),
                    content_type=SOAP_CONTENT_TYPE)


def _envelope(payload: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    return xml_bytes(envelope)


def _fault(message: str, detail: etree._Element | None = None) -> Response:
    """A SOAP 1.1 client fault; HTTP 500 as SOAP 1.1 over HTTP requires."""
    fault = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"soap": SOAP_ENV})
    etree.SubElement(fault, "faultcode").text = "soap:Client"
    etree.SubElement(fault, "faultstring").text = message
    if detail is not None:
        etree.SubElement(fault, "detail").append(detail)
    return Response(_envelope(fault), status=500, content_type=SOAP_CONTENT_TYPE)
