"""``kind = "xml"``: POST an XML request, read the XML answer (docs/adapters.md).

The request body is a template; the customer key is XML-escaped (``&``, ``<``,
``>`` and both quotes) so it is safe in text and in attribute values alike.
The answer is parsed by :func:`portal.adapters.xmlsafe.parse_xml`: no DTDs, no
entities, no network, a size limit.

Optional XSD validation (``xsd``): the schema is compiled once, from a file
next to the adapter file (at load time, so a broken schema is a load error) or
from an http(s) URL (fetched on the first lookup, within its deadline and the
size limit, then kept). The answer is validated after the ``not_found`` check:
a "no such customer" document need not match the schema of a real answer.
"""

from __future__ import annotations

import codecs
import logging
import threading
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator

from portal.adapters import httpclient, xmlsafe
from portal.adapters.base import (
    Adapter,
    Extracted,
    LookupContext,
    current_source_dir,
    render_key,
    url_address,
)
from portal.adapters.config import AdapterConfig
from portal.adapters.extract import XPathExtractor, compile_path, matches
from portal.errors import (
    BackendNotFound,
    BackendProtocolError,
    BackendTimeout,
    ConfigError,
)

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
    xsd: str | None = Field(default=None, min_length=1)

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

    @field_validator("xsd")
    @classmethod
    def _xsd_location(cls, value: str | None) -> str | None:
        if value is not None and ":" in value.split("/", 1)[0] and not _is_url(value):
            raise ValueError("expected a path to an .xsd file or an http(s) URL")
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
        if options.xsd and not _is_url(options.xsd):
            self._schema = Schema.from_file(_resolve(options.xsd, config.id), source=config.id)

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
        if opts.xsd:
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
                answer = httpclient.request(
                    self._session, "GET", url, context, max_bytes=self.options.max_bytes, record=False
                )
                if not answer.ok:
                    raise BackendProtocolError(f"HTTP {answer.status} from system for its XSD")
                try:
                    self._schema = Schema.from_bytes(answer.content, max_bytes=self.options.max_bytes)
                except ValueError as exc:  # not cached: the next lookup tries again
                    raise BackendProtocolError(f"XSD could not be used: {exc}") from exc
            return self._schema
        finally:
            self._schema_lock.release()

    def address(self) -> tuple[str, int] | None:
        return url_address(self.options.url)

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
    def from_file(cls, path: Path, *, source: str) -> Schema:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(source, "xsd", f"{path} cannot be read: {exc.strerror or exc}") from exc
        try:
            return cls.from_bytes(data)
        except ValueError as exc:
            raise ConfigError(source, "xsd", f"{path}: {exc}") from exc

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


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _resolve(value: str, source: str) -> Path:
    """An ``xsd`` path: absolute as written, else relative to the adapter file's directory."""
    path = Path(value)
    if path.is_absolute():
        return path
    base = current_source_dir()
    if base is None:
        raise ConfigError(
            source, "xsd", "a relative path needs an adapter file to be relative to; use an absolute path or a URL"
        )
    return base / path
