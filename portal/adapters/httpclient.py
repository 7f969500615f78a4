"""HTTP plumbing shared by the ``html``, ``xml`` and ``soap`` kinds.

Why not plain ``requests.get``:

* **Pooling.** Each adapter owns one :class:`requests.Session` with a bounded
  connection pool, so a lookup reuses a warm keep-alive connection.
* **The egress policy** of the adapter fetching is checked at every new
  connection, after name resolution (:mod:`portal.adapters.egress_http`).
* **Nothing from the environment.** ``trust_env=False``: ``HTTP(S)_PROXY``,
  ``REQUESTS_CA_BUNDLE`` (which silently overrides ``Session.verify``) and
  ``~/.netrc`` must not change how the portal reaches its back offices.
* **One deadline.** requests has no total timeout; a slow-dripping server can
  keep a plain read alive forever. :func:`request` gives urllib3 a *total*
  budget for connect + headers and re-arms the socket timeout with what is
  left of the lookup's deadline before every body read.
* **A size limit** on the (decoded) body, checked while streaming.
* **The raw answer** for the owners' test console: every body read is noted on
  the lookup context (a no-op unless the caller asked for it), including the
  part of an oversized body read before the limit stopped it. Auxiliary
  documents (a WSDL, an XSD) pass ``record=False`` so they never hide the answer.
* **Translation at the edge.** requests/urllib3 exceptions become
  ``BackendTimeout`` / ``BackendUnavailable`` / ``BackendProtocolError``
  (``raise ... from exc``), with short messages for people.

No retries: a retry would spend the same deadline twice, and the fan-out
already shows a failed panel without failing the page.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import DecodeError, NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from portal.adapters.base import LookupContext
from portal.adapters.egress_http import GuardedHTTPAdapter
from portal.errors import (
    BackendError,
    BackendProtocolError,
    BackendTimeout,
    BackendUnavailable,
)

log = logging.getLogger(__name__)

USER_AGENT = "service-desk-portal/0.1"
CHUNK = 64 * 1024
DEFAULT_POOL_SIZE = 10


def make_session(pool_maxsize: int = DEFAULT_POOL_SIZE) -> requests.Session:
    """A session that ignores the environment and keeps a bounded keep-alive pool."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = {}
    session.max_redirects = 5
    session.headers["User-Agent"] = USER_AGENT
    # Guarded: each new connection obeys the egress policy of the adapter fetching (portal.adapters.egress_http).
    adapter = GuardedHTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, pool_block=False, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class HttpAnswer:
    """A fully read HTTP response."""

    status: int
    headers: CaseInsensitiveDict[str]
    content: bytes
    url: str
    encoding: str | None  # from the Content-Type header only; None lets a parser sniff

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def request(
    session: requests.Session,
    method: str,
    url: str,
    context: LookupContext,
    *,
    max_bytes: int,
    params: Mapping[str, str] | None = None,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    allow_redirects: bool = True,
    record: bool = True,
) -> HttpAnswer:
    """Send one request and read the whole body within the context's deadline."""
    all_headers = dict(headers or {})
    if context.correlation_id:
        all_headers["X-Correlation-ID"] = context.correlation_id
    remaining = context.remaining()
    # urllib3's ``total`` caps connect + waiting for the headers together.
    timeout = urllib3.Timeout(total=remaining, connect=remaining, read=remaining)
    try:
        response = session.request(
            method,
            url,
            params=params,
            data=data,
            headers=all_headers,
            # requests passes a urllib3 Timeout through as is (HTTPAdapter.send); its stubs list float/tuple only
            timeout=timeout,  # type: ignore[arg-type]
            stream=True,
            allow_redirects=allow_redirects,
        )
    except BackendError:
        raise
    except Exception as exc:
        raise translate(exc, context) from exc
    try:
        encoding = header_charset(response.headers.get("Content-Type"))
        content = _read_body(response, context, max_bytes, record=record, encoding=encoding)
        if record:
            context.record_raw(content, encoding)
        return HttpAnswer(
            status=response.status_code,
            headers=response.headers,
            content=content,
            url=response.url,
            encoding=encoding,
        )
    finally:
        # After a complete read urllib3 has already put the connection back in
        # the pool; after an aborted one, this discards it instead of reusing it.
        response.close()


def _read_body(
    response: requests.Response,
    context: LookupContext,
    max_bytes: int,
    *,
    record: bool = False,
    encoding: str | None = None,
) -> bytes:
    """The whole body; with ``record``, a body cut short (too large, reset, slow) is noted as far as it came."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BackendProtocolError(f"response larger than {max_bytes} bytes")
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            _arm_socket(raw, context.remaining())
            # read1: at most one recv per call, so the deadline is checked between
            # recvs; read(n) would keep waiting until n bytes have trickled in.
            chunk = raw.read1(CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise BackendProtocolError(f"response larger than {max_bytes} bytes")
            chunks.append(chunk)
    except BackendError:
        if record and chunks:
            context.record_raw(b"".join(chunks[:4]), encoding)  # 4 chunks: far more than an excerpt shows
        raise
    except Exception as exc:
        if record and chunks:
            context.record_raw(b"".join(chunks[:4]), encoding)
        raise translate(exc, context) from exc
    return b"".join(chunks)



def _arm_socket(raw: Any, seconds: float) -> None:
    """Give the next ``recv`` only what is left of the deadline."""
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.001))
        except OSError:  # already closed: the read that follows reports it
            log.debug("could not re-arm the socket timeout", exc_info=True)


def translate(exc: BaseException, context: LookupContext | None = None) -> BackendError:
    """A requests/urllib3/socket failure as a short ``Backend*`` error (the caller chains it)."""
    timeout_text = context.timeout_message() if context else "no answer in time"
    # requests wraps urllib3 errors; look through the chain for the real cause.
    causes = list(_causes(exc))

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(c, types) for c in causes)

    # Order matters: urllib3's NewConnectionError ("refused") subclasses its
    # ConnectTimeoutError, and requests' ConnectTimeout subclasses ConnectionError.
    if has(NewConnectionError) and not has(socket.timeout):
        return BackendUnavailable(_connect_failure(causes))
    if has(requests.Timeout, Urllib3Timeout, socket.timeout):
        return BackendTimeout(timeout_text)
    if has(requests.TooManyRedirects):
        return BackendProtocolError("too many redirects")
    if has(requests.exceptions.ContentDecodingError, DecodeError):
        return BackendProtocolError("response body could not be decoded")
    if has(requests.exceptions.ChunkedEncodingError):
        return BackendProtocolError("response cut off mid-body")
    if has(requests.exceptions.SSLError):
        return BackendUnavailable("TLS handshake failed")
    if has(requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
        return BackendProtocolError("invalid URL")
    if has(ProtocolError) and not has(ConnectionRefusedError):
        return BackendUnavailable("connection closed by the system before it answered")
    if has(requests.ConnectionError, OSError):
        return BackendUnavailable(_connect_failure(causes))
    log.warning("unexpected HTTP failure: %r", exc)
    return BackendProtocolError(f"HTTP request failed ({type(exc).__name__})")


def _connect_failure(causes: list[BaseException]) -> str:
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or any(
        "refused" in str(c).lower() for c in causes
    ):
        return "connection refused"
    if any("name or service not known" in str(c).lower() or "resolve" in str(c).lower() for c in causes):
        return "host name could not be resolved"
    return "cannot connect"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its ``__cause__``/``__context__`` chain and urllib3's ``reason``/args."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.append(current.__cause__)
        stack.append(current.__context__)
        stack.append(getattr(current, "reason", None))
        stack.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))


def header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value:
            return value.strip().strip("\"'") or None
    return None


def status_error(answer: HttpAnswer) -> BackendProtocolError:
    return BackendProtocolError(f"HTTP {answer.status} from system")
