"""The three XML-over-HTTP systems: value-added services, number portability, WAP gateway.

Wire format (same shape for all three; namespace and paths differ)::

    POST /vas/subscriptions   Content-Type: application/xml
    <vas:query xmlns:vas="urn:demotel:vas:v1"><vas:msisdn>13800000000</vas:msisdn></vas:query>
    -> 200 <vas:subscriptions xmlns:vas="urn:demotel:vas:v1" msisdn="...">...</vas:subscriptions>

A customer the system does not know is **HTTP 200** with a namespaced error
document, ``<vas:error code="NOT_FOUND">`` (XPath ``/vas:error[@code='NOT_FOUND']``),
because these systems report business outcomes in the body and keep HTTP
errors for transport problems. A request without a readable ``msisdn`` is
HTTP 400 with ``<…:error code="BAD_REQUEST">``.

The ``msisdn`` element is accepted in the system's namespace or in none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree
from lxml.builder import ElementMaker
from werkzeug.wrappers import Request, Response

from portal.demo import data, ui
from portal.demo.catalogue import SystemSpec
from portal.demo.web import App, XmlRejected, parse_xml, text_response, xml_response

Answer = Callable[[ElementMaker, str], "etree._Element | None"]


@dataclass(frozen=True)
class XmlSystem:
    path: str
    prefix: str
    namespace: str
    answer: Answer  # the answer document's root, or None for an unknown customer


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _vas(E: ElementMaker, number: str) -> etree._Element | None:
    v = data.vas(number)
    if v is None:
        return None
    subs = [E.subscription(E.service(s.service), E.code(s.code), E.since(s.since.isoformat()),
                           E.fee(str(s.fee), currency="CNY")) for s in v.subscriptions]
    return E.subscriptions(E.subscriber(E.name(v.name)), *subs, msisdn=v.msisdn, count=str(len(subs)))


def _portability(E: ElementMaker, number: str) -> etree._Element | None:
    p = data.portability(number)
    if p is None:
        return None
    return E.portingStatus(E.status(p.status), E.donorOperator(p.donor_operator),
                           E.recipientOperator(p.recipient_operator),
                           E.portDate(p.port_date.isoformat() if p.port_date else ""), msisdn=p.msisdn)


def _wap(E: ElementMaker, number: str) -> etree._Element | None:
    w = data.wap(number)
    if w is None:
        return None
    return E.profile(E.apn(w.apn), E.dataEnabled(_flag(w.data_enabled)),
                     E.lastSession(w.last_session.isoformat()), E.usageMb(str(w.usage_mb)), msisdn=w.msisdn)


XML_SYSTEMS: dict[str, XmlSystem] = {
    "vas": XmlSystem("/vas/subscriptions", "vas", "urn:demotel:vas:v1", _vas),
    "portability": XmlSystem("/mnp/status", "mnp", "urn:demotel:mnp:v1", _portability),
    "wap": XmlSystem("/wap/profile", "wap", "urn:demotel:wap:v1", _wap),
}


def endpoint_url(system_id: str, host: str, port: int) -> str:
    return f"http://{host}:{port}{XML_SYSTEMS[system_id].path}"


def build_app(spec: SystemSpec, host: str) -> App:
    """The WSGI app of one XML system: the query endpoint and the customer screen."""
    system = XML_SYSTEMS[spec.id]
    app = App(spec.name)

    @app.route(system.path, methods=("GET", "POST"))
    def endpoint(request: Request) -> Response:
        if request.method == "GET":
            return text_response(f"{spec.name}: POST a <{system.prefix}:query> document "
                                 f"in {system.namespace} here\n")
        return _answer(system, spec, request.get_data())

    ui.add_screen_route(app, spec)
    return app


def _answer(system: XmlSystem, spec: SystemSpec, body: bytes) -> Response:
    E = ElementMaker(namespace=system.namespace, nsmap={system.prefix: system.namespace})
    try:
        msisdn = _msisdn(parse_xml(body), system.namespace)
    except XmlRejected as exc:
        return xml_response(E.error(E.message(str(exc)), code="BAD_REQUEST"), status=400)
    root = system.answer(E, msisdn)
    if root is None:
        return xml_response(E.error(E.message(f"{spec.name} has no subscriber {msisdn}"),
                                    code="NOT_FOUND", msisdn=msisdn))
    return xml_response(root)


def _msisdn(root: etree._Element, namespace: str) -> str:
    for tag in (f"{{{namespace}}}msisdn", "msisdn"):
        found = root if root.tag == tag else root.find(f".//{tag}")
        if found is not None:
            return (found.text or "").strip()
    raise XmlRejected("no msisdn element in the request")
