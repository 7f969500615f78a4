"""The adapter contract: one customer key in, one :class:`SystemResult` out.

A kind (``html``, ``xml``, ``soap``, ``socket``, or a third-party one) subclasses
:class:`Adapter`, declares its own options as a pydantic model in ``Options`` and
implements :meth:`Adapter.fetch`. ``fetch`` raises the ``Backend*`` errors of
:mod:`portal.errors`; :meth:`Adapter.lookup` turns every outcome into a status,
so nothing an adapter does can fail the combined view.

Adapters know nothing of users, roles or Flask.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import enum
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel

from portal.adapters.boundary import Scope, current_boundary, running
from portal.adapters.config import AdapterConfig
from portal.errors import BackendError, BackendTimeout

log = logging.getLogger(__name__)

Row = dict[str, Any]

#: How much of a raw answer the test console shows (characters).
RAW_EXCERPT_CHARS = 4000
#: The most any adapter document may let one answer be (``max_bytes``): what is read is held in memory.
MAX_ANSWER_BYTES = 20_000_000


class Status(str, enum.Enum):
    OK = "ok"
    NOT_FOUND = "not_found"
    ERROR = "error"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class SystemResult:
    """What one system said about one customer, in a form every layer can read."""

    system_id: str
    status: Status
    fields: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[Row]] = field(default_factory=dict)
    elapsed_ms: int = 0
    error: str | None = None
    # The start of what the system answered, only when the caller asked for it
    # (the owners' test console). Never part of the agents' view: it is raw,
    # unmasked back-office data.
    raw_excerpt: str | None = None
    # False when the system was not asked at all (its circuit breaker or bulkhead refused the
    # call): the monitor must not count that as the system failing once more.
    attempted: bool = True

    def to_dict(self, include_raw: bool = False) -> dict[str, Any]:
        body = {
            "system_id": self.system_id,
            "status": self.status.value,
            "fields": dict(self.fields),
            "tables": {name: [dict(r) for r in rows] for name, rows in self.tables.items()},
            "elapsed_ms": self.elapsed_ms,
            "error": self.error,
        }
        if include_raw:
            body["raw_excerpt"] = self.raw_excerpt
        return body


@dataclass
class Extracted:
    """The fields and tables an adapter pulled out of one response."""

    fields: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[Row]] = field(default_factory=dict)


class RawRecorder:
    """Keeps the last raw answer a kind received during one lookup (for the test console).

    Kinds record what came off the wire; decoding and cutting happen once, at the
    end, and only the first :data:`RAW_EXCERPT_CHARS` characters are ever decoded,
    so capturing a 2 MB answer costs next to nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # SOAP's transport may record from zeep's call path
        self._data: bytes | str | None = None
        self._encoding: str | None = None

    def record(self, data: bytes | str, encoding: str | None = None) -> None:
        with self._lock:
            self._data = data
            self._encoding = encoding

    @property
    def empty(self) -> bool:
        return self._data is None

    def excerpt(self, limit: int = RAW_EXCERPT_CHARS) -> str | None:
        with self._lock:
            data, encoding = self._data, self._encoding
        if data is None:
            return None
        if isinstance(data, str):
            return data[:limit]
        return _decode_excerpt(data, encoding, limit)


def _decode_excerpt(data: bytes, encoding: str | None, limit: int) -> str:
    """Text when the bytes are text in ``encoding`` (UTF-8 if unknown), else ``repr`` of the bytes."""
    head = data[: limit * 4]  # no charset needs more than 4 bytes per character
    try:
        decoder = codecs.getincrementaldecoder(encoding or "utf-8")(errors="strict")
        # final=False: a character cut in half at the end of ``head`` is not an error.
        text = decoder.decode(head, final=len(head) == len(data))
    except (LookupError, UnicodeError, ValueError, TypeError):  # codecs fail in more ways than decoding errors
        return repr(data[:limit])[:limit]
    return text[:limit]


@dataclass(frozen=True)
class LookupContext:
    """Per-call facts: when the answer is no longer wanted, and the lookup's id."""

    deadline: float  # time.monotonic() value
    correlation_id: str | None = None
    budget: float | None = None  # the seconds this lookup was given, for messages people read
    recorder: RawRecorder | None = None  # set when the caller asked for the raw answer

    def record_raw(self, data: bytes | str, encoding: str | None = None) -> None:
        """Note the raw answer just received; the last one recorded wins. Free when not capturing."""
        if self.recorder is not None:
            self.recorder.record(data, encoding)

    def remaining(self) -> float:
        """Seconds left; raises :class:`BackendTimeout` once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BackendTimeout(self.timeout_message())
        return left

    def timeout_message(self) -> str:
        """The short message of a timeout: ``no answer within 2.0 s``."""
        if self.budget is None:
            return "no answer before the deadline"
        return f"no answer within {format_seconds(self.budget)} s"


class Adapter(ABC):
    """One configured back-office system. Instances are shared by threads."""

    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def __init__(self, config: AdapterConfig, options: BaseModel) -> None:
        self.config = config
        self.options = options
        # Decided by the loader (portal.adapters.boundary); kinds never choose their own.
        self.boundary = current_boundary()

    @property
    def id(self) -> str:
        return self.config.id

    @abstractmethod
    def fetch(self, key: str, context: LookupContext) -> Extracted:
        """Ask the system about ``key``; raise a ``Backend*`` error on failure."""

    def close(self) -> None:  # noqa: B027 - an optional hook: kinds without pooled connections have nothing to close
        """Release pooled connections. Called when the registry is discarded."""

    def address(self) -> tuple[str, int] | None:
        """The host and TCP port the system listens on, for the monitor's connect probe (``None``: unknown)."""
        return None

    def service_description_url(self) -> str | None:
        """A document the system serves about itself (a SOAP WSDL), for the monitor's ``wsdl`` probe."""
        return None

    def egress_targets(self) -> list[tuple[str, str, int]]:
        """``(document key, host, port)`` of every destination this adapter connects to, for the egress check
        at registration (:mod:`portal.adapters.egress_check`). Kinds that fetch more than :meth:`address`
        (a login form, a schema) list those too; connect time checks every connection anyway."""
        address = self.address()
        return [("address", address[0], address[1])] if address is not None else []

    def lookup(
        self,
        key: str,
        *,
        timeout: float | None = None,
        correlation_id: str | None = None,
        capture_raw: bool = False,
    ) -> SystemResult:
        """Run :meth:`fetch` within ``timeout`` seconds and never raise.

        A field declared ``required`` that comes back empty makes the result an
        ``error`` saying ``layout changed: <label> not found``: the system
        answered, but its page or schema no longer has what the owner promised,
        and blanks would hide that from everybody.

        ``capture_raw`` fills :attr:`SystemResult.raw_excerpt` with the start of
        the answer (ok or not, whenever one arrived), for the owners' test console.
        """
        budget = self.config.timeout_s if timeout is None else max(0.0, min(timeout, self.config.timeout_s))
        started = time.perf_counter()
        recorder = RawRecorder() if capture_raw else None
        context = LookupContext(
            deadline=time.monotonic() + budget, correlation_id=correlation_id, budget=budget, recorder=recorder
        )
        try:
            context.remaining()  # a lookup given no time at all is a timeout, not a connection attempt
            with running(Scope(self.boundary, self.id, self.config.owner)):
                extracted = self.fetch(key, context)
        except BackendError as exc:
            return self._result(exc.result_status, started, error=exc.detail, recorder=recorder)
        except Exception:  # a bug in a kind must cost its panel, not the page
            log.exception("adapter %s failed unexpectedly", self.id)
            return self._result(Status.ERROR, started, error="unexpected adapter failure (logged)", recorder=recorder)
        missing = self.missing_required(extracted)
        if missing:
            return self._result(
                Status.ERROR, started, error=f"layout changed: {', '.join(missing)} not found", recorder=recorder
            )
        return SystemResult(
            system_id=self.id,
            status=Status.OK,
            fields=extracted.fields,
            tables=extracted.tables,
            elapsed_ms=_elapsed_ms(started),
            raw_excerpt=recorder.excerpt() if recorder else None,
        )

    def missing_required(self, extracted: Extracted) -> list[str]:
        """Labels (or names) of the ``required`` fields the answer did not fill, in document order."""
        return [
            spec.label or name
            for name, spec in self.config.fields.items()
            if spec.required and extracted.fields.get(name) in (None, "")
        ]

    def _result(
        self, status: str | Status, started: float, error: str, recorder: RawRecorder | None = None
    ) -> SystemResult:
        return SystemResult(
            system_id=self.id,
            status=Status(status),
            elapsed_ms=_elapsed_ms(started),
            error=error,
            raw_excerpt=recorder.excerpt() if recorder else None,
        )


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def format_seconds(seconds: float) -> str:
    """``2.0``, ``0.25``, ``0.3``: short, and never ``2`` (people read "2.0 s" more easily)."""
    text = f"{seconds:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def url_target(key: str, url: str) -> tuple[str, str, int]:
    """An :meth:`Adapter.egress_targets` entry for a URL; host ``""`` when the URL names none (refused)."""
    address = url_address(url)
    return (key, *address) if address is not None else (key, "", 0)


def url_address(url: str) -> tuple[str, int] | None:
    """``(host, port)`` of an http(s) URL, with the scheme's default port."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _as_is(text: str) -> str:
    return text


def render_key(template: str, key: str, escape: Callable[[str], str] = _as_is) -> str:
    """Fill ``{customer}`` in a request template; ``escape`` suits the wire format."""
    return template.replace("{customer}", escape(key))


# -- where an adapter document came from ------------------------------------------------

_source: contextvars.ContextVar[str | None] = contextvars.ContextVar("portal_adapter_source", default=None)


@contextlib.contextmanager
def adapter_source(source: str | None) -> Iterator[None]:
    """Tell kinds built inside this block which file (or database id) their document came from.

    The loader wraps ``cls(config, options)`` in it, so a kind can resolve a
    path relative to the adapter file (the xml kind's ``xsd``) without every
    third-party constructor having to take one more argument.
    """
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def current_source() -> str | None:
    """The file (or id) of the adapter being built, when the loader said so."""
    return _source.get()


def current_source_dir() -> Path | None:
    """The directory of the adapter file being built; ``None`` when it did not come from a file."""
    source = _source.get()
    if not source:
        return None
    path = Path(source)
    return path.parent if path.suffix == ".toml" else None
