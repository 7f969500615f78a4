"""``kind = "xml"``: POST an XML request, read the XML answer (docs/adapters.md).

The request body is a template; the customer key is XML-escaped (``&``, ``<``,
``>`` and both quotes) so it is safe in text and in attribute values alike.
The answer is parsed by :func:`portal.adapters.xmlsafe.parse_xml`: no DTDs, no
entities, no network, a size limit.
"""

from __future__ import annotations

import codecs
import logging
from xml.sax.saxutils import escape

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator

from portal.adapters import httpclient, xmlsafe
from portal.adapters.base import Adapter, Extracted, LookupContext, render_key
from portal.adapters.config import AdapterConfig
from portal.adapters.extract import XPathExtractor, compile_path, matches
from portal.errors import BackendNotFound, BackendProtocolError

log = logging.getLogger(__name__)

_QUOTES = {'"': "&quot;", "'": "&apos;"}


def xml_escape(value: str) -> str:
    return escape(value, _QUOTES)


class XmlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    body: str = Field(min_length=1)
    content_type: str = "application/xml; charset=utf-8"
    namespaces: dict[str, str] = Field(default_factory=dict)
    not_found: str | None = None
    max_bytes: int = Field(default=2_000_000, gt=0)

    @field_validator("content_type")
    @classmethod
    def _known_charset(cls, value: str) -> str:
        charset = httpclient.header_charset(value)
        if charset:
            try:
                codecs.lookup(charset)
            except LookupError:
                raise ValueError(f"unknown charset {charset!r}") from None
        return value

    @property
    def body_charset(self) -> str:
        return httpclient.header_charset(self.content_type) or "utf-8"


class XmlAdapter(Adapter):
    kind = "xml"
    Options = XmlOptions
    options: XmlOptions

    def __init__(self, config: AdapterConfig, options: XmlOptions) -> None:
        super().__init__(config, options)
        namespaces = options.namespaces
        self._extractor = XPathExtractor(config, namespaces=namespaces)
        self._not_found = (
            compile_path(options.not_found, source=config.id, key="not_found", namespaces=namespaces)
            if options.not_found
            else None
        )
        self._session = httpclient.make_session()

    def fetch(self, key: str, context: LookupContext) -> Extracted:
        opts = self.options
        body = render_key(opts.body, key, xml_escape).encode(opts.body_charset, errors="xmlcharrefreplace")
        answer = httpclient.request(
            self._session,
            "POST",
            opts.url,
            context,
            max_bytes=opts.max_bytes,
            data=body,
            headers={"Content-Type": opts.content_type, "Accept": "application/xml, text/xml"},
        )
        if not answer.ok:
            root = self._parse_error_body(answer)
            if answer.status == 404 and root is not None and self._is_not_found(root):
                raise BackendNotFound("customer not known to this system")
            raise httpclient.status_error(answer)
        root = xmlsafe.parse_xml(answer.content, max_bytes=opts.max_bytes)
        if self._is_not_found(root):
            raise BackendNotFound("customer not known to this system")
        return self._extractor.extract(root)

    def close(self) -> None:
        self._session.close()

    def _is_not_found(self, root: etree._Element) -> bool:
        return self._not_found is not None and matches(self._not_found(root))

    def _parse_error_body(self, answer: httpclient.HttpAnswer) -> etree._Element | None:
        if not answer.content.strip():
            return None
        try:
            return xmlsafe.parse_xml(answer.content, max_bytes=self.options.max_bytes)
        except BackendProtocolError:
            log.debug("adapter %s: unreadable body of HTTP %s", self.id, answer.status)
            return None
