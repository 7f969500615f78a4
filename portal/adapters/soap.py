"""``kind = "soap"``: call one operation with zeep (docs/adapters.md, DESIGN §9).

The zeep plumbing — a deadline-bound transport, the per-process client cache,
the WSDL disk cache (:func:`~portal.adapters.soapclient.open_cache`, in the folder the
adapter's boundary names) and hardened settings — lives in
:mod:`portal.adapters.soapclient`; this module is the adapter: options,
argument mapping, fault rules, WS-Security and dotted-path extraction.

Faults: a SOAP fault whose code, message or detail contains one of
``not_found_faults`` means ``not_found``; any other fault is an ``error``.
WS-Security: ``wsse = { credentials = "NAME", digest = false }`` adds a
UsernameToken built per call from :mod:`portal.adapters.secrets`; the name must
be bound to this system (checked here at registration, and again at each use).

The WSDL: an http(s) URL (``wsdl``), the WSDL itself uploaded with the adapter
version (``wsdl_content``), or — in a file-based adapter only — a file inside
the configuration folder (``wsdl``, see :mod:`portal.adapters.localfiles`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
from typing import Any

import requests
import zeep
import zeep.exceptions
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from zeep.helpers import serialize_object
from zeep.wsse.username import UsernameToken

from portal.adapters import httpclient, secrets, xmlsafe
from portal.adapters.base import (
    MAX_ANSWER_BYTES,
    Adapter,
    Extracted,
    LookupContext,
    render_key,
    url_address,
    url_target,
)
from portal.adapters.config import AdapterConfig
from portal.adapters.localfiles import is_url, read_owner_file
from portal.adapters.soapclient import (  # noqa: F401 - re-exported: the app and tests use soap.*
    CEILING_S,
    MAX_BYTES,
    SETTINGS,
    WSDL_CACHE_TTL_S,
    Call,
    DeadlineTransport,
    _clients,
    _current,
    _release,
    _retain,
    _short,
    clear_client_cache,
    get_client,
    inline_key,
    open_cache,
)
from portal.adapters.templates import Template
from portal.errors import (
    BackendError,
    BackendNotFound,
    BackendProtocolError,
    ConfigError,
)

log = logging.getLogger(__name__)


class WsseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    credentials: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    digest: bool = False  # PasswordDigest (nonce + created) instead of PasswordText


class SoapOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wsdl: str | None = Field(default=None, min_length=1)
    # The WSDL itself, uploaded and stored with the adapter version (instead of wsdl).
    wsdl_content: str | None = Field(default=None, min_length=1)
    operation: str = Field(min_length=1)
    args: dict[str, Template] = Field(default_factory=dict)
    service: str | None = None
    port: str | None = None
    not_found_faults: list[str] = Field(default_factory=list)
    max_bytes: int = Field(default=MAX_BYTES, gt=0, le=MAX_ANSWER_BYTES)
    wsse: WsseOptions | None = None

    @field_validator("wsdl")
    @classmethod
    def _wsdl_location(cls, value: str | None) -> str | None:
        if value is not None and ":" in value.split("/", 1)[0] and not is_url(value):
            raise ValueError("expected an http(s) URL (or, in an adapter file, the path of a .wsdl file)")
        return value

    @field_validator("wsdl_content")
    @classmethod
    def _one_wsdl(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("wsdl") is not None:
            raise ValueError("give either wsdl (a URL) or wsdl_content (the WSDL itself), not both")
        return value


# -- the adapter ----------------------------------------------------------------------


class SoapAdapter(Adapter):
    kind = "soap"
    Options = SoapOptions
    options: SoapOptions

    def __init__(self, config: AdapterConfig, options: SoapOptions) -> None:
        super().__init__(config, options)
        if options.wsse is not None:
            problem = secrets.binding_problem(self.boundary, options.wsse.credentials, config.id, config.owner)
            if problem is not None:
                raise ConfigError(config.id, "wsse.credentials", problem)
        for name, spec in config.fields.items():
            _check_dotted(spec.path, config.id, f"fields.{name}.path")
        for name, table in config.tables.items():
            _check_dotted(table.path, config.id, f"tables.{name}.path")
            for column, path in table.columns.items():
                _check_dotted(path, config.id, f"tables.{name}.columns.{column}")
        self._needles = [n.lower() for n in options.not_found_faults if n]
        content = _wsdl_content(options, config.id)
        # The client-cache key: the URL, or the digest of a WSDL that came as content.
        self._wsdl = inline_key(content) if content is not None else str(options.wsdl)
        self._endpoint = _endpoint(content) if content is not None else None
        self._closed = False
        _retain(self._wsdl, content)

    def address(self) -> tuple[str, int] | None:
        if self._endpoint is not None:
            return url_address(self._endpoint)
        return url_address(self.options.wsdl) if self.options.wsdl else None

    def egress_targets(self) -> list[tuple[str, str, int]]:
        # The service address inside the WSDL and its imports are checked when connecting.
        if self.options.wsdl is None or not is_url(self.options.wsdl):  # uploaded or a file: nothing fetched
            key = "wsdl_content" if self.options.wsdl_content is not None else "wsdl"
            return [url_target(key, self._endpoint)] if self._endpoint else []
        return [url_target("wsdl", self.options.wsdl)]

    def service_description_url(self) -> str | None:
        # A WSDL given as content has no URL to fetch it back from.
        return self.options.wsdl if self.options.wsdl and is_url(self.options.wsdl) else None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _release(self._wsdl)

    def fetch(self, key: str, context: LookupContext) -> Extracted:
        opts = self.options
        client = get_client(self._wsdl, context)
        operation = self._operation(client)
        args = {name: render_key(template, key) for name, template in opts.args.items()}
        token = _current.set(Call(context, opts.max_bytes, self._username_token()))
        try:
            result = operation(**args)
        except BackendError:
            raise
        except zeep.exceptions.Fault as exc:
            raise self._fault(exc) from exc
        except zeep.exceptions.TransportError as exc:
            raise BackendProtocolError(f"HTTP {exc.status_code} from system") from exc
        except zeep.exceptions.Error as exc:
            raise BackendProtocolError(f"answer could not be read: {_short(exc)}") from exc
        except requests.RequestException as exc:  # pragma: no cover - the transport translates these
            raise httpclient.translate(exc, context) from exc
        except TypeError as exc:  # wrong argument names for the operation
            raise BackendProtocolError(f"arguments do not fit {opts.operation}: {_short(exc)}") from exc
        finally:
            _current.reset(token)
        return self._extract(serialize_object(result, target_cls=dict))

    def _username_token(self) -> UsernameToken | None:
        """A fresh token per call: credentials may rotate, and a digest needs a new nonce each time."""
        wsse = self.options.wsse
        if wsse is None:
            return None
        username, password = secrets.credentials(wsse.credentials)
        return UsernameToken(username, password, use_digest=wsse.digest)

    def _operation(self, client: zeep.Client) -> Any:
        opts = self.options
        try:
            proxy = client.bind(opts.service, opts.port)
        except (ValueError, KeyError, AttributeError) as exc:
            raise BackendProtocolError(f"service/port not in the WSDL: {_short(exc)}") from exc
        if proxy is None:
            raise BackendProtocolError("the WSDL defines no service")
        try:
            return proxy[opts.operation]
        except (AttributeError, KeyError, ValueError) as exc:
            raise BackendProtocolError(f"operation {opts.operation!r} not in the WSDL") from exc

    def _fault(self, fault: zeep.exceptions.Fault) -> BackendError:
        message = _short(fault.message or "")
        detail = "".join(fault.detail.itertext()) if fault.detail is not None else ""
        haystack = " ".join(str(part) for part in (fault.code, fault.message, detail) if part).lower()
        if any(needle in haystack for needle in self._needles):
            return BackendNotFound(f"customer not known to this system ({message})" if message else "customer not known to this system")
        return BackendProtocolError(f"SOAP fault: {message or fault.code or 'no message'}")

    def _extract(self, data: Any) -> Extracted:
        out = Extracted()
        for name, spec in self.config.fields.items():
            out.fields[name] = to_text(dotted(data, spec.path))
        for name, table in self.config.tables.items():
            items = dotted(data, table.path)
            if items is None:
                rows: list[Any] = []
            elif isinstance(items, list):
                rows = items
            else:
                rows = [items]  # a single record where the WSDL allows many
            out.tables[name] = [
                {column: to_text(dotted(item, path)) for column, path in table.columns.items()} for item in rows
            ]
        return out


# -- the WSDL given as content -------------------------------------------------------

_WSDL_ROOTS = {
    "{http://schemas.xmlsoap.org/wsdl/}definitions",  # WSDL 1.1
    "{http://www.w3.org/ns/wsdl}description",  # WSDL 2.0
}


def _wsdl_content(options: SoapOptions, source: str) -> bytes | None:
    """The WSDL's bytes when the document carries it (``wsdl_content``) or names a file; ``None`` for a URL."""
    if options.wsdl_content is not None:
        key, content = "wsdl_content", options.wsdl_content.encode("utf-8")
        if len(content) > MAX_BYTES:
            raise ConfigError(source, key, f"larger than {MAX_BYTES} bytes")
    elif options.wsdl is not None and not is_url(options.wsdl):
        key = "wsdl"
        content = read_owner_file(
            options.wsdl, source=source, key=key, content_key="wsdl_content", what="WSDL", max_bytes=MAX_BYTES
        ).content
    elif options.wsdl is not None:
        return None
    else:
        raise ConfigError(source, "wsdl", "required: the WSDL's http(s) URL, or the WSDL itself as wsdl_content")
    try:
        root = xmlsafe.parse_xml(content, max_bytes=MAX_BYTES)  # no DTD, well-formed, bounded
    except BackendProtocolError as exc:
        raise ConfigError(source, key, exc.detail) from exc
    if root.tag not in _WSDL_ROOTS:
        raise ConfigError(source, key, "not a WSDL (the root is not wsdl:definitions or wsdl:description)")
    return content


def _endpoint(content: bytes) -> str | None:
    """The first service address in a WSDL given as content (the monitor's connect probe, the egress check)."""
    root = xmlsafe.parse_xml(content, max_bytes=MAX_BYTES)
    for element in root.iter("{*}address", "{*}endpoint"):
        location = element.get("location") or element.get("address")
        if location and is_url(location):
            return location
    return None


# -- dotted paths ---------------------------------------------------------------------


def _check_dotted(path: str, source: str, key: str) -> None:
    if any(part == "" for part in path.split(".")):
        raise ConfigError(source, key, f"invalid dotted path {path!r}: empty segment")


def dotted(data: Any, path: str) -> Any:
    """Follow ``a.b.0.c`` into nested dicts and lists; ``None`` when a step is missing.

    A name applied to a list reads the first item, like XPath's ``string()``
    reads the first node.
    """
    current = data
    for part in path.split("."):
        if current is None:
            return None
        if isinstance(current, list):
            if part.isdigit():
                index = int(part)
                current = current[index] if index < len(current) else None
                continue
            current = current[0] if current else None
            if current is None:
                return None
        if isinstance(current, dict):
            current = current.get(part)
        else:
            current = getattr(current, part, None) if not isinstance(current, (str, bytes, int, float)) else None
    return current


def to_text(value: Any) -> str | None:
    """A scalar from zeep as the string agents see; ``None`` for missing or structured values."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, list):
        texts = [to_text(v) for v in value]
        return ", ".join(t for t in texts if t is not None) if all(not isinstance(v, (dict, list)) for v in value) else None
    log.debug("dotted path points at a structured value (%s); returning None", type(value).__name__)
    return None
