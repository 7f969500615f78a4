"""``kind = "soap"``: call one operation with zeep (docs/adapters.md, DESIGN §9).

* **WSDL parsed once per process.** Building a ``zeep.Client`` costs
  milliseconds to seconds, so clients live in a module-level cache keyed by
  WSDL URL and shared by every adapter that names that WSDL. A per-URL lock
  makes concurrent first lookups build it once; a failed build (system down)
  is not cached, so the next lookup simply tries again.
* **Deadlines.** zeep's default ``operation_timeout`` is *no timeout at all*.
  :class:`DeadlineTransport` always sets one, and every HTTP exchange it does
  goes through :func:`portal.adapters.httpclient.request` with the deadline of
  the lookup that is running on this thread (a context variable, because one
  cached client serves many lookups and many adapters with different budgets).
* **Safe parsing.** ``Settings(forbid_dtd=True, forbid_entities=True,
  forbid_external=True, xml_huge_tree=False)``; on top of that each answer and
  each WSDL/XSD document is first checked by :func:`xmlsafe.parse_xml` (size
  limit, no DTD, well-formed), and only ``http(s)`` documents may be imported
  (zeep would otherwise open ``file://`` and bare local paths).
* ``strict=False``: a back office that adds an element to its answer must not
  break its panel; broken XML is still refused by the well-formedness check.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import logging
import threading
import time
from typing import Any
from urllib.parse import urlparse

import requests
import zeep
import zeep.exceptions
from zeep.helpers import serialize_object
from zeep.transports import Transport
from pydantic import BaseModel, ConfigDict, Field

from portal.adapters import httpclient, xmlsafe
from portal.adapters.base import Adapter, Extracted, LookupContext, render_key
from portal.adapters.config import AdapterConfig
from portal.errors import BackendError, BackendNotFound, BackendProtocolError, BackendTimeout, ConfigError

log = logging.getLogger(__name__)

MAX_BYTES = 2_000_000  # per answer and per WSDL/XSD document
CEILING_S = 60.0  # the longest any adapter may wait (timeout_s <= 60); zeep's timeouts are never None

SETTINGS = zeep.Settings(
    strict=False,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)

_current: contextvars.ContextVar[LookupContext | None] = contextvars.ContextVar("portal_soap_lookup", default=None)


class SoapOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wsdl: str = Field(pattern=r"^https?://")
    operation: str = Field(min_length=1)
    args: dict[str, str] = Field(default_factory=dict)
    service: str | None = None
    port: str | None = None
    not_found_faults: list[str] = Field(default_factory=list)


# -- transport ----------------------------------------------------------------------


class DeadlineTransport(Transport):
    """A zeep transport that obeys the running lookup's deadline and size limits."""

    def __init__(self, session: requests.Session) -> None:
        super().__init__(session=session, timeout=CEILING_S, operation_timeout=CEILING_S)
        # zeep mounts a file:// adapter on the session; a back office's WSDL must not read our disk.
        session.adapters.pop("file://", None)
        session.headers["User-Agent"] = httpclient.USER_AGENT

    def _context(self) -> LookupContext:
        context = _current.get()
        if context is None:  # only outside a lookup (e.g. a shell); still bounded
            context = LookupContext(deadline=time.monotonic() + self.operation_timeout, budget=self.operation_timeout)
        return context

    def post(self, address, message, headers):  # noqa: ANN001 - zeep's signature
        answer = httpclient.request(
            self.session, "POST", address, self._context(), max_bytes=MAX_BYTES, data=message, headers=headers
        )
        _check_answer(answer)
        return _to_response(answer)

    def get(self, address, params, headers):  # noqa: ANN001 - zeep's signature
        answer = httpclient.request(
            self.session, "GET", address, self._context(), max_bytes=MAX_BYTES, params=params, headers=headers
        )
        _check_answer(answer)
        return _to_response(answer)

    def load(self, url):  # noqa: ANN001 - zeep's signature
        if urlparse(url or "").scheme not in ("http", "https"):
            raise BackendProtocolError("the WSDL refers to a document that is not http(s)")
        answer = httpclient.request(self.session, "GET", url, self._context(), max_bytes=MAX_BYTES)
        if not answer.ok:
            raise BackendProtocolError(f"HTTP {answer.status} from system for its WSDL")
        xmlsafe.parse_xml(answer.content, max_bytes=MAX_BYTES)  # no DTD, well-formed, bounded
        return answer.content


def _check_answer(answer: httpclient.HttpAnswer) -> None:
    """Refuse what zeep should never see; let it read faults (HTTP 500 + SOAP envelope)."""
    if "multipart/" in (answer.headers.get("Content-Type") or ""):
        return  # SOAP with attachments: zeep splits the parts itself
    if not answer.content.strip():
        return  # zeep reports an empty answer by its status
    try:
        xmlsafe.parse_xml(answer.content, max_bytes=MAX_BYTES)
    except xmlsafe.UnsafeXml:
        raise
    except BackendProtocolError:
        if answer.status != 200:
            raise httpclient.status_error(answer) from None
        raise


def _to_response(answer: httpclient.HttpAnswer) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status
    response.headers = answer.headers
    response._content = answer.content  # what Response.content returns; the body is already read
    response.encoding = answer.encoding
    response.url = answer.url
    return response


# -- the per-process client cache ------------------------------------------------------

_clients: dict[str, zeep.Client] = {}
_build_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def get_client(wsdl: str, context: LookupContext) -> zeep.Client:
    """The process-wide client for ``wsdl``, built on first use within ``context``'s deadline."""
    client = _clients.get(wsdl)
    if client is not None:
        return client
    with _guard:
        lock = _build_locks.setdefault(wsdl, threading.Lock())
    if not lock.acquire(timeout=context.remaining()):
        raise BackendTimeout(context.timeout_message())  # another lookup is still reading the WSDL
    try:
        client = _clients.get(wsdl)
        if client is None:
            client = _build_client(wsdl, context)
            _clients[wsdl] = client
        return client
    finally:
        lock.release()


def _build_client(wsdl: str, context: LookupContext) -> zeep.Client:
    transport = DeadlineTransport(httpclient.make_session())
    token = _current.set(context)
    try:
        return zeep.Client(wsdl, transport=transport, settings=SETTINGS)
    except BackendError:
        transport.session.close()
        raise
    except Exception as exc:  # zeep/lxml raise many types for a bad WSDL
        transport.session.close()
        log.warning("WSDL %s could not be read: %s", wsdl, exc)
        raise BackendProtocolError(f"WSDL could not be read: {_short(exc)}") from exc
    finally:
        _current.reset(token)


def clear_client_cache() -> None:
    """Forget every cached client (tests; a reload after a WSDL changed)."""
    with _guard:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.transport.session.close()


# -- the adapter ----------------------------------------------------------------------


class SoapAdapter(Adapter):
    kind = "soap"
    Options = SoapOptions
    options: SoapOptions

    def __init__(self, config: AdapterConfig, options: SoapOptions) -> None:
        super().__init__(config, options)
        for name, spec in config.fields.items():
            _check_dotted(spec.path, config.id, f"fields.{name}.path")
        for name, table in config.tables.items():
            _check_dotted(table.path, config.id, f"tables.{name}.path")
            for column, path in table.columns.items():
                _check_dotted(path, config.id, f"tables.{name}.columns.{column}")
        self._needles = [n.lower() for n in options.not_found_faults if n]

    def fetch(self, key: str, context: LookupContext) -> Extracted:
        opts = self.options
        client = get_client(opts.wsdl, context)
        operation = self._operation(client)
        args = {name: render_key(template, key) for name, template in opts.args.items()}
        token = _current.set(context)
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

    def _operation(self, client: zeep.Client):  # noqa: ANN202 - a zeep OperationProxy
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


def _short(exc: object, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
