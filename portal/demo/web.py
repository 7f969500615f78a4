"""A small WSGI toolkit shared by the simulated HTTP systems.

Routing and responses on werkzeug (no Flask: each system is a tiny app of its
own, not part of the portal), plus the one place where the simulated systems
build their XML parser, hardened the same way as the portal's (DESIGN §9):
no DTD loading, no entity resolution, no network, no huge trees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from html import escape
from typing import Any

from lxml import etree
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

Handler = Callable[..., Response]

MAX_XML_BYTES = 64 * 1024  # a customer query is a few hundred bytes


class XmlRejected(ValueError):
    """A request body that is not acceptable XML (malformed, too large, has a DTD)."""


def safe_xml_parser() -> etree.XMLParser:
    """A fresh hardened parser (lxml parsers are not shared between threads)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_pis=True, remove_comments=True)


def parse_xml(body: bytes) -> etree._Element:
    """Parse an untrusted request body; :class:`XmlRejected` says why it was refused."""
    if len(body) > MAX_XML_BYTES:
        raise XmlRejected(f"request larger than {MAX_XML_BYTES} bytes")
    try:
        root = etree.fromstring(body, safe_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"not well-formed XML: {exc.msg}") from exc
    if root is None:
        raise XmlRejected("empty document")
    if root.getroottree().docinfo.doctype:
        raise XmlRejected("DTDs are not accepted")
    return root


def xml_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def xml_response(root: etree._Element, status: int = 200,
                 content_type: str = "application/xml; charset=utf-8") -> Response:
    return Response(xml_bytes(root), status=status, content_type=content_type)


def html_response(text: str, status: int = 200, charset: str = "utf-8") -> Response:
    """An HTML page really encoded in ``charset`` (GBK for the ring-back tone system).

    A character the charset lacks becomes a character reference rather than an error.
    """
    return Response(text.encode(charset, "xmlcharrefreplace"), status=status, content_type=f"text/html; charset={charset}")


def text_response(text: str, status: int = 200) -> Response:
    return Response(text.encode("utf-8"), status=status, content_type="text/plain; charset=utf-8")


def h(value: Any) -> str:
    """HTML-escape any value for a page (quotes included, for attributes)."""
    return escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, charset: str = "utf-8", style: str = "") -> str:
    """A complete HTML document; ``charset`` is declared in a meta tag as well as the header."""
    return (f'<!DOCTYPE html>\n<html><head><meta charset="{h(charset)}"><title>{h(title)}</title>'
            f"<style>{style}</style></head>\n<body>\n{body}\n</body></html>\n")


def html_table(table_id: str, headers: Iterable[str], rows: Iterable[Iterable[tuple[str, Any]]]) -> str:
    """A ``<table id=...>`` whose cells carry a class per column, so XPath/CSS can pick them."""
    head = "".join(f"<th>{h(x)}</th>" for x in headers)
    body = "".join("<tr>" + "".join(f'<td class="{h(cls)}">{h(v)}</td>' for cls, v in row) + "</tr>\n"
                   for row in rows)
    return f'<table id="{h(table_id)}"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>'


class App:
    """A WSGI application: werkzeug rules mapped to handler functions."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._map = Map(strict_slashes=False)
        self._handlers: dict[str, Handler] = {}

    def route(self, rule: str, methods: Iterable[str] = ("GET",)) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            endpoint = f"{handler.__name__}:{rule}"
            self._map.add(Rule(rule, endpoint=endpoint, methods=list(methods)))
            self._handlers[endpoint] = handler
            return handler
        return register

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_XML_BYTES
        try:
            endpoint, values = self._map.bind_to_environ(environ).match()
            response = self._handlers[endpoint](request, **values)
        except HTTPException as exc:
            response = text_response(f"{exc.code} {exc.name}\n", exc.code or 500)
        response.headers["X-Demo-System"] = self.name
        return response(environ, start_response)
