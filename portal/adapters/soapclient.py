"""zeep plumbing of the ``soap`` kind: transport, WSDL caches, shared clients (DESIGN §9).

* **WSDL parsed once per process.** Building a ``zeep.Client`` costs
  milliseconds to seconds, so clients live in a module-level cache keyed by
  WSDL URL and shared by every adapter that names that WSDL. A per-URL lock
  makes concurrent first lookups build it once; a failed build (system down)
  is not cached, so the next lookup simply tries again. The last adapter of a
  WSDL to close releases its client (and its pooled connections).
* **WSDL cached on disk between runs** in the folder the adapter's boundary names
  (``Boundary.wsdl_cache_dir``, the app's ``<data_dir>/cache``; see :func:`open_cache`;
  zeep's ``SqliteCache``, ``InMemoryCache`` if the folder cannot hold one): a
  restarted portal does not need every SOAP system up to build its clients.
  Cached documents pass the same safety checks as fetched ones.
* **Per-lookup settings on shared clients.** One client serves many adapters,
  so what differs per adapter (deadline, ``max_bytes``, WS-Security
  credentials, raw-answer capture) travels in a context variable (:class:`Call`)
  read by the transport and by :class:`_ContextWsse`, never as client state.
* **Deadlines.** zeep's default ``operation_timeout`` is *no timeout at all*.
  :class:`DeadlineTransport` always sets one, and every HTTP exchange it does
  goes through :func:`portal.adapters.httpclient.request` with the deadline of
  the lookup that is running on this thread.
* **Safe parsing.** ``Settings(forbid_dtd=True, forbid_entities=True,
  forbid_external=True, xml_huge_tree=False)``; on top of that each answer and
  each WSDL/XSD document is first checked by :func:`xmlsafe.parse_xml` (size
  limit, no DTD, well-formed), and only ``http(s)`` documents may be imported
  (zeep would otherwise open ``file://`` and bare local paths).
* **WSDLs uploaded with the adapter** (``wsdl_content``, or a file of a
  file-based adapter) are registered in memory under a key of their digest
  (:func:`inline_key`) and handed to zeep as a stream: they are never written
  anywhere, and what they import is subject to the same rules as above.
* ``strict=False``: a back office that adds an element to its answer must not
  break its panel; broken XML is still refused by the well-formedness check.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests
import zeep
import zeep.cache
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from portal.adapters import httpclient, xmlsafe
from portal.adapters.base import LookupContext
from portal.adapters.boundary import active_scope
from portal.errors import BackendError, BackendProtocolError, BackendTimeout

log = logging.getLogger(__name__)

MAX_BYTES = 2_000_000  # per WSDL/XSD document, and the default per answer (``max_bytes``)
CEILING_S = 60.0  # the longest any adapter may wait (timeout_s <= 60); zeep's timeouts are never None
WSDL_CACHE_TTL_S = 24 * 3600  # a changed WSDL is seen within a day, or at once after clear_client_cache(disk=True)
WSDL_CACHE_FILE = "zeep-wsdl.sqlite3"

SETTINGS = zeep.Settings(
    strict=False,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)



@dataclass(frozen=True)
class Call:
    """What the shared client's transport and WS-Security need to know about the running lookup."""

    context: LookupContext
    max_bytes: int = MAX_BYTES
    token: UsernameToken | None = None


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("portal_soap_lookup", default=None)



# -- transport ----------------------------------------------------------------------


class DeadlineTransport(Transport):
    """A zeep transport that obeys the running lookup's deadline and size limits."""

    def __init__(self, session: requests.Session) -> None:
        # zeep leaves Transport.__init__ unannotated (a super() call escapes untyped_calls_exclude)
        super().__init__(session=session, timeout=CEILING_S, operation_timeout=CEILING_S)  # type: ignore[no-untyped-call]
        # zeep mounts a file:// adapter on the session; a back office's WSDL must not read our disk.
        session.adapters.pop("file://", None)
        session.headers["User-Agent"] = httpclient.USER_AGENT

    def _call(self) -> Call:
        call = _current.get()
        if call is None:  # only outside a lookup (e.g. a shell); still bounded
            timeout = float(self.operation_timeout)
            call = Call(LookupContext(deadline=time.monotonic() + timeout, budget=timeout))
        return call

    def post(self, address: str, message: str | bytes, headers: Mapping[str, str]) -> requests.Response:
        call = self._call()
        answer = httpclient.request(
            self.session, "POST", address, call.context, max_bytes=call.max_bytes, data=message, headers=headers
        )
        _check_answer(answer, call.max_bytes)
        return _to_response(answer)

    def get(self, address: str, params: Mapping[str, str], headers: Mapping[str, str]) -> requests.Response:
        call = self._call()
        answer = httpclient.request(
            self.session, "GET", address, call.context, max_bytes=call.max_bytes, params=params, headers=headers
        )
        _check_answer(answer, call.max_bytes)
        return _to_response(answer)

    def load(self, url: str) -> bytes:
        if urlparse(url or "").scheme not in ("http", "https"):
            raise BackendProtocolError("the WSDL refers to a document that is not http(s)")
        cached = _cache_get(url)
        if cached is not None:
            return cached
        answer = httpclient.request(
            self.session, "GET", url, self._call().context, max_bytes=MAX_BYTES, record=False
        )
        if not answer.ok:
            raise BackendProtocolError(f"HTTP {answer.status} from system for its WSDL")
        xmlsafe.parse_xml(answer.content, max_bytes=MAX_BYTES)  # no DTD, well-formed, bounded
        _cache_add(url, answer.content)
        return answer.content


class _ContextWsse:
    """zeep's ``wsse`` hook for a shared client: applies the running lookup's UsernameToken, if any."""

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> tuple[etree._Element, dict[str, str]]:
        call = _current.get()
        if call is None or call.token is None:
            return envelope, headers
        signed: tuple[etree._Element, dict[str, str]] = call.token.apply(envelope, headers)
        return signed

    def verify(self, envelope: etree._Element) -> etree._Element:
        return envelope


_CONTEXT_WSSE = _ContextWsse()


def _check_answer(answer: httpclient.HttpAnswer, max_bytes: int) -> None:
    """Refuse what zeep should never see; let it read faults (HTTP 500 + SOAP envelope)."""
    if "multipart/" in (answer.headers.get("Content-Type") or ""):
        return  # SOAP with attachments: zeep splits the parts itself
    if not answer.content.strip():
        return  # zeep reports an empty answer by its status
    try:
        xmlsafe.parse_xml(answer.content, max_bytes=max_bytes)
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


# -- the WSDL disk cache ----------------------------------------------------------------

_disk_caches: dict[Path, zeep.cache.Base] = {}  # folder -> its cache, opened at first use
_disk_lock = threading.Lock()


def open_cache(path: str | Path, *, ttl_s: float = WSDL_CACHE_TTL_S) -> zeep.cache.Base:
    """The WSDL disk cache in folder ``path``, opened once per process and folder.

    Which folder a lookup uses is its adapter's boundary's
    (:attr:`~portal.adapters.boundary.Boundary.wsdl_cache_dir`: the app's ``<data_dir>/cache``), so
    two apps in one process never share one. When the folder cannot hold a SQLite file the documents
    are kept in memory for this process instead (with a warning): a cache must never stop a lookup.
    """
    directory = Path(path).resolve()
    with _disk_lock:
        cache = _disk_caches.get(directory)
        if cache is None:
            cache = _disk_caches[directory] = _open_cache(directory, ttl_s)
    return cache


def _open_cache(directory: Path, ttl_s: float) -> zeep.cache.Base:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return zeep.cache.SqliteCache(path=str(directory / WSDL_CACHE_FILE), timeout=ttl_s)
    except Exception as exc:  # noqa: BLE001 - OSError, sqlite3.Error, RuntimeError (no sqlite3): all mean "not on disk"
        log.warning("WSDL cache in %s unavailable (%s); keeping WSDLs in memory", directory, exc)
        return zeep.cache.InMemoryCache(timeout=ttl_s)


def _active_cache() -> zeep.cache.Base | None:
    """The disk cache of the adapter whose lookup runs on this thread; ``None``: no disk cache."""
    scope = active_scope()
    directory = scope.boundary.wsdl_cache_dir if scope is not None else None
    return open_cache(directory) if directory is not None else None


def _cache_get(url: str) -> bytes | None:
    cache = _active_cache()
    if cache is None:
        return None
    try:
        data = cache.get(url)
    except Exception as exc:  # noqa: BLE001 - a broken cache file costs a fetch, nothing more
        log.warning("WSDL cache read failed for %s: %s", url, exc)
        return None
    if not data:
        return None
    data = data.encode() if isinstance(data, str) else bytes(data)
    try:
        xmlsafe.parse_xml(data, max_bytes=MAX_BYTES)  # a cache file is no more trusted than the network
    except BackendProtocolError as exc:
        log.warning("cached WSDL document %s refused (%s); fetching it again", url, exc.detail)
        return None
    return data


def _cache_add(url: str, content: bytes) -> None:
    cache = _active_cache()
    if cache is not None:
        try:
            cache.add(url, content)
        except Exception as exc:  # noqa: BLE001 - a cache that cannot write costs nothing but time
            log.warning("WSDL cache write failed for %s: %s", url, exc)


# -- the per-process client cache ------------------------------------------------------

_clients: dict[str, zeep.Client] = {}
_build_locks: dict[str, threading.Lock] = {}
_users: dict[str, int] = {}  # open adapters per WSDL: the last one to close releases the client
_inline: dict[str, bytes] = {}  # inline_key() -> the WSDL uploaded with an adapter, while one uses it
_guard = threading.Lock()

INLINE_PREFIX = "inline:sha256:"


def inline_key(content: bytes) -> str:
    """The client-cache key of a WSDL given as content: adapters uploading the same WSDL share a client."""
    return INLINE_PREFIX + hashlib.sha256(content).hexdigest()


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
    with _guard:
        content = _inline.get(wsdl)
    if content is None and wsdl.startswith(INLINE_PREFIX):
        raise BackendProtocolError("the adapter's WSDL is no longer loaded (the adapter was replaced)")
    # An uploaded WSDL is read from memory; zeep never sees a location it could open itself.
    source: str | io.BytesIO = io.BytesIO(content) if content is not None else wsdl
    transport = DeadlineTransport(httpclient.make_session())
    token = _current.set(Call(context))
    try:
        return zeep.Client(source, transport=transport, settings=SETTINGS, wsse=_CONTEXT_WSSE)
    except BackendError:
        transport.session.close()
        raise
    except Exception as exc:  # zeep/lxml raise many types for a bad WSDL
        transport.session.close()
        log.warning("WSDL %s could not be read: %s", wsdl, exc)
        raise BackendProtocolError(f"WSDL could not be read: {_short(exc)}") from exc
    finally:
        _current.reset(token)


def clear_client_cache(*, disk: bool = False) -> None:
    """Forget every cached client (tests; a reload after a WSDL changed); ``disk`` empties the disk caches too."""
    with _guard:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.transport.session.close()
    if not disk:
        return
    with _disk_lock:
        caches = list(_disk_caches.values())
    for cache in caches:
        if isinstance(cache, zeep.cache.SqliteCache):
            with cache.db_connection() as conn:
                conn.execute("DELETE FROM request")
                conn.commit()
        elif isinstance(cache, zeep.cache.InMemoryCache):
            cache._cache.clear()


def _retain(wsdl: str, content: bytes | None = None) -> None:
    """One more adapter uses ``wsdl``; ``content``: the WSDL itself, for an :func:`inline_key`."""
    with _guard:
        _users[wsdl] = _users.get(wsdl, 0) + 1
        if content is not None:
            _inline[wsdl] = content


def _release(wsdl: str) -> None:
    with _guard:
        left = _users.get(wsdl, 0) - 1
        if left > 0:
            _users[wsdl] = left
            return
        _users.pop(wsdl, None)
        _inline.pop(wsdl, None)
        client = _clients.pop(wsdl, None)
    if client is not None:
        client.transport.session.close()


def _short(exc: object, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
