"""``kind = "xml"``: POST an XML request, read the XML answer (docs/adapters.md).

The request body is a template; the customer key is XML-escaped (``&``, ``<``,
``>`` and both quotes) so it is safe in text and in attribute values alike.
The answer is parsed by :func:`portal.adapters.xmlsafe.parse_xml`: no DTDs, no
entities, no network, a size limit.

Optional XSD validation: the schema is compiled once, from the content
uploaded with the adapter (``xsd_content``) or a file next to a file-based
adapter (``xsd``; both at load time, so a broken schema is a load error), or
from an http(s) URL (``xsd``; fetched on the first lookup, within its deadline
and the size limit, then kept). A registered adapter may not name a local file
(:mod:`portal.adapters.localfiles`). Every schema is limited to
:data:`XSD_MAX_BYTES`. The answer is validated after the ``not_found`` check:
a "no such customer" document need not match the schema of a real answer.
"""

from __future__ import annotations

import logging
import threading
from xml.sax.saxutils import escape

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from portal.adapters import httpclient, xmlsafe
from portal.adapters.base import (
    MAX_ANSWER_BYTES,
    Adapter,
    Extracted,
    LookupContext,
    render_key,
    url_address,
    url_target,
)
from portal.adapters.charsets import text_charset
from portal.adapters.config import AdapterConfig
from portal.adapters.extract import XPathExtractor, compile_path, matches
from portal.adapters.localfiles import is_url, read_owner_file
from portal.adapters.templates import Template
from portal.errors import (
    BackendNotFound,
    BackendProtocolError,
    BackendTimeout,
    ConfigError,
)

log = logging.getLogger(__name__)

_QUOTES = {'"': "&quot;", "'": "&apos;"}
#: The largest XSD read from a file, uploaded with the adapter or fetched from a URL.
XSD_MAX_BYTES = 2_000_000


def xml_escape(value: str) -> str:
    return escape(value, _QUOTES)


class XmlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    body: Template = Field(min_length=1)
    content_type: str = "application/xml; charset=utf-8"
    namespaces: dict[str, str] = Field(default_factory=dict)
    not_found: str | None = None
    max_bytes: int = Field(default=2_000_000, gt=0, le=MAX_ANSWER_BYTES)
    xsd: str | None = Field(default=None, min_length=1)
    # The schema itself, uploaded and stored with the adapter version (instead of xsd).
    xsd_content: str | None = Field(default=None, min_length=1)

    @field_validator("content_type")
    @classmethod
    def _known_charset(cls, value: str) -> str:
        charset = httpclient.header_charset(value)
        if charset:
            text_charset(charset)
        return value

    @field_validator("xsd")
    @classmethod
    def _xsd_location(cls, value: str | None) -> str | None:
        if value is not None and ":" in value.split("/", 1)[0] and not is_url(value):
            raise ValueError("expected a path to an .xsd file or an http(s) URL")
        return value

    @field_validator("xsd_content")
    @classmethod
    def _one_schema(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("xsd") is not None:
            raise ValueError("give either xsd (a URL) or xsd_content (the schema itself), not both")
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
        self._schema: Schema | None = None
        self._schema_lock = threading.Lock()
        if options.xsd_content is not None:
            self._schema = Schema.from_content(options.xsd_content, source=config.id)
        elif options.xsd and not is_url(options.xsd):
            self._schema = Schema.from_file(options.xsd, source=config.id)

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
        if opts.xsd or opts.xsd_content is not None:
            self._get_schema(context).validate(root)
        return self._extractor.extract(root)

    def _get_schema(self, context: LookupContext) -> Schema:
        """The compiled schema; an http(s) one is fetched by the first lookup that needs it."""
        schema = self._schema
        if schema is not None:
            return schema
        if not self._schema_lock.acquire(timeout=context.remaining()):
            raise BackendTimeout(context.timeout_message())  # another lookup is still fetching it
        try:
            if self._schema is None:
                url = self.options.xsd
                assert url is not None
                limit = min(self.options.max_bytes, XSD_MAX_BYTES)
                answer = httpclient.request(self._session, "GET", url, context, max_bytes=limit, record=False)
                if not answer.ok:
                    raise BackendProtocolError(f"HTTP {answer.status} from system for its XSD")
                try:
                    self._schema = Schema.from_bytes(answer.content, max_bytes=limit)
                except ValueError as exc:  # not cached: the next lookup tries again
                    raise BackendProtocolError(f"XSD could not be used: {exc}") from exc
            return self._schema
        finally:
            self._schema_lock.release()

    def address(self) -> tuple[str, int] | None:
        return url_address(self.options.url)

    def egress_targets(self) -> list[tuple[str, str, int]]:
        xsd = self.options.xsd
        fetched = xsd is not None and xsd.lower().startswith(("http://", "https://"))  # a file is not egress
        return [url_target("url", self.options.url), *([url_target("xsd", xsd)] if fetched and xsd else [])]

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


# -- XSD ---------------------------------------------------------------------------------

XSD_NS = "http://www.w3.org/2001/XMLSchema"
# An XSD that pulls in other documents would make libxml2 load them behind the
# hardened parser's back (files, network): one self-contained schema only.
_REFERENCES = ("include", "import", "redefine", "override")


class Schema:
    """A compiled XSD, validated against under a lock (an lxml validator keeps one error log)."""

    def __init__(self, schema: etree.XMLSchema) -> None:
        self._schema = schema
        self._lock = threading.Lock()

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES) -> Schema:
        """Compile an untrusted XSD with the hardened parser; ``ValueError`` says why it cannot be used."""
        try:
            root = xmlsafe.parse_xml(data, max_bytes=max_bytes)
        except BackendProtocolError as exc:
            raise ValueError(exc.detail) from exc
        if root.tag != f"{{{XSD_NS}}}schema":
            raise ValueError("not an XML Schema (the root is not xs:schema)")
        for name in _REFERENCES:
            for element in root.iter(f"{{{XSD_NS}}}{name}"):
                if element.get("schemaLocation") is not None:
                    raise ValueError(f"xs:{name} of another document is not supported; use one self-contained XSD")
        try:
            return cls(etree.XMLSchema(root))
        except etree.XMLSchemaParseError as exc:
            raise ValueError(f"invalid XSD: {_first_error(exc.error_log) or exc}") from exc

    @classmethod
    def from_file(cls, value: str, *, source: str) -> Schema:
        """The schema in the file ``value`` names, within the local-file rules (``xsd``)."""
        document = read_owner_file(
            value, source=source, key="xsd", content_key="xsd_content", what="schema", max_bytes=XSD_MAX_BYTES
        )
        try:
            return cls.from_bytes(document.content, max_bytes=XSD_MAX_BYTES)
        except ValueError as exc:
            raise ConfigError(source, "xsd", f"{document.path}: {exc}") from exc

    @classmethod
    def from_content(cls, text: str, *, source: str) -> Schema:
        """The schema uploaded with the adapter (``xsd_content``), as UTF-8 text."""
        data = text.encode("utf-8")
        if len(data) > XSD_MAX_BYTES:
            raise ConfigError(source, "xsd_content", f"larger than {XSD_MAX_BYTES} bytes")
        try:
            return cls.from_bytes(data, max_bytes=XSD_MAX_BYTES)
        except ValueError as exc:
            raise ConfigError(source, "xsd_content", str(exc)) from exc

    def validate(self, root: etree._Element) -> None:
        with self._lock:
            if self._schema.validate(root):
                return
            first = _first_error(self._schema.error_log)
        raise BackendProtocolError(f"answer does not match schema: {first or 'invalid'}")


def _first_error(error_log: etree._ListErrorLog) -> str | None:
    for entry in error_log:
        message = " ".join(str(entry.message).split())
        if len(message) > 200:
            message = message[:199] + "…"
        return f"{message} (line {entry.line})"
    return None
