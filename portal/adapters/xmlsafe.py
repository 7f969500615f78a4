"""The one place the portal builds XML and HTML parsers (DESIGN §3, §9).

Everything a back office sends is untrusted. lxml before 6.1 resolved external
entities in some entry points, and its defaults differ between versions, so no
module may call ``etree.XMLParser``/``fromstring`` on its own: it asks here.

The XML parser never loads a DTD, never expands entities, never touches the
network and keeps libxml2's limits on tree depth and text size
(``huge_tree=False``). On top of that :func:`parse_xml` refuses any document
that *declares* a DTD at all — a back office has no reason to send one, and
entity tricks (billion laughs, external entities) all start with a DTD — and
any document larger than its size limit, before parsing a byte.

zeep builds its own parser inside ``zeep.loader``; the SOAP kind keeps it safe
with ``Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True,
xml_huge_tree=False)`` (see :mod:`portal.adapters.soap`).
"""

from __future__ import annotations

import codecs
from functools import lru_cache

from lxml import etree, html

from portal.errors import BackendProtocolError

DEFAULT_MAX_BYTES = 2_000_000
#: HTML elements whose text is never page text: removed by :func:`parse_html` before anything reads the page.
NOT_PAGE_TEXT = ("script", "style", "template")


class UnsafeXml(BackendProtocolError):
    """The document was refused: too large, a DTD, or an entity declaration."""


def make_xml_parser() -> etree.XMLParser:
    """A fresh hardened XML parser.

    Parsers are cheap and not meant to be shared between threads, so callers
    get a new one per document.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_pis=True,
        collect_ids=False,
    )


def make_html_parser(encoding: str | None = None) -> html.HTMLParser:
    """A fresh HTML parser with the same limits; ``encoding`` overrides the page's own."""
    return html.HTMLParser(
        encoding=encoding,
        no_network=True,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
        collect_ids=False,
        default_doctype=False,
    )


def check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise UnsafeXml(f"response larger than {max_bytes} bytes")


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse an untrusted XML document and return its root element.

    Raises :class:`UnsafeXml` (a :class:`BackendProtocolError`) for a document
    that is too large, declares a DTD or an entity, or is not well-formed.
    """
    if not isinstance(data, bytes):
        # Bytes only: a str with an encoding declaration is refused by lxml anyway,
        # and bytes let the size limit mean what it says.
        raise TypeError("parse_xml() takes bytes")
    check_size(data, max_bytes)
    if not data.strip():
        raise BackendProtocolError("empty XML document")
    try:
        root = etree.fromstring(data, parser=make_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise BackendProtocolError(f"not well-formed XML: {_first_line(exc)}") from exc
    if root is None:  # pragma: no cover - lxml raises for empty input; belt and braces
        raise BackendProtocolError("empty XML document")
    _refuse_dtd(root)
    return root


def parse_html(data: bytes, *, encoding: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> html.HtmlElement:
    """Parse an untrusted HTML page; ``encoding`` overrides what the page declares."""
    check_size(data, max_bytes)
    if not data.strip():
        raise BackendProtocolError("empty page")
    if encoding:
        # lxml would quietly turn bytes of another charset into replacement characters,
        # and agents would read garbage as if it were data.
        try:
            data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise BackendProtocolError(f"page is not valid {encoding} (byte {exc.start}): wrong charset") from exc
        except UnicodeError as exc:  # codecs such as punycode raise their own kind
            raise BackendProtocolError(f"page cannot be read as {encoding}: wrong charset") from exc
        except LookupError as exc:
            raise BackendProtocolError(f"unknown charset {encoding!r}") from exc
    try:
        root = html.document_fromstring(data, parser=make_html_parser(encoding))
    except (etree.ParserError, etree.XMLSyntaxError) as exc:
        raise BackendProtocolError(f"page could not be read: {_first_line(exc)}") from exc
    except LookupError as exc:  # an unknown charset name
        raise BackendProtocolError(f"unknown charset {encoding!r}") from exc
    # Program text, style sheets and inert templates are not what the page shows: their text
    # must never end up inside a field value or a table cell (the tail after them is page text).
    etree.strip_elements(root, *NOT_PAGE_TEXT, with_tail=False)
    return root


@lru_cache(maxsize=64)  # asked for every page whose Content-Type names a charset
def html_parser_charset(encoding: str) -> str | None:
    """The name under which the HTML parser reads ``encoding`` (a charset Python knows), or ``None``.

    libxml2 and Python spell charsets differently ("latin-1" is Python's only,
    "euc_jp" is "EUC-JP" to libxml2); the same codec under another of its names will do.
    """
    try:
        python_name = codecs.lookup(encoding).name
    except LookupError:
        return None
    spellings = (encoding, python_name, python_name.replace("_", "-"), python_name.replace("_", "-").replace("-", ""))
    for candidate in dict.fromkeys(spellings):
        try:
            if codecs.lookup(candidate).name != python_name:
                continue
            html.document_fromstring("<p>x</p>".encode(candidate), parser=make_html_parser(candidate))
        except (LookupError, ValueError, etree.ParserError, etree.XMLSyntaxError):
            continue
        return candidate
    return None


def _refuse_dtd(root: etree._Element) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None:
        for entity in docinfo.internalDTD.iterentities():
            raise UnsafeXml(f"XML document declares entity {entity.name!r} (refused)")
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml("XML document declares a DTD (refused)")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
