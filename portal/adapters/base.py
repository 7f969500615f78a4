"""The adapter contract: one customer key in, one :class:`SystemResult` out.

A kind (``html``, ``xml``, ``soap``, ``socket``, or a third-party one) subclasses
:class:`Adapter`, declares its own options as a pydantic model in ``Options`` and
implements :meth:`Adapter.fetch`. ``fetch`` raises the ``Backend*`` errors of
:mod:`portal.errors`; :meth:`Adapter.lookup` turns every outcome into a status,
so nothing an adapter does can fail the combined view.

Adapters know nothing of users, roles or Flask.
"""

from __future__ import annotations

import enum
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from portal.adapters.config import AdapterConfig
from portal.errors import BackendError, BackendTimeout

log = logging.getLogger(__name__)

Row = dict[str, Any]


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "system_id": self.system_id,
            "status": self.status.value,
            "fields": dict(self.fields),
            "tables": {name: [dict(r) for r in rows] for name, rows in self.tables.items()},
            "elapsed_ms": self.elapsed_ms,
            "error": self.error,
        }


@dataclass
class Extracted:
    """The fields and tables an adapter pulled out of one response."""

    fields: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[Row]] = field(default_factory=dict)


@dataclass(frozen=True)
class LookupContext:
    """Per-call facts: when the answer is no longer wanted, and the lookup's id."""

    deadline: float  # time.monotonic() value
    correlation_id: str | None = None
    budget: float | None = None  # the seconds this lookup was given, for messages people read

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

    @property
    def id(self) -> str:
        return self.config.id

    @abstractmethod
    def fetch(self, key: str, context: LookupContext) -> Extracted:
        """Ask the system about ``key``; raise a ``Backend*`` error on failure."""

    def close(self) -> None:
        """Release pooled connections. Called when the registry is discarded."""

    def lookup(self, key: str, *, timeout: float | None = None, correlation_id: str | None = None) -> SystemResult:
        """Run :meth:`fetch` within ``timeout`` seconds and never raise.

        A field declared ``required`` that comes back empty makes the result an
        ``error``: the system answered, but not what its owner promised.
        """
        budget = self.config.timeout_s if timeout is None else min(timeout, self.config.timeout_s)
        started = time.perf_counter()
        context = LookupContext(
            deadline=time.monotonic() + budget, correlation_id=correlation_id, budget=budget
        )
        try:
            extracted = self.fetch(key, context)
        except BackendError as exc:
            return self._result(exc.result_status, started, error=exc.detail)
        except Exception:  # a bug in a kind must cost its panel, not the page
            log.exception("adapter %s failed unexpectedly", self.id)
            return self._result(Status.ERROR, started, error="unexpected adapter failure (logged)")
        missing = self._missing_required(extracted)
        if missing:
            # A required item that is absent means the answer is not what the owner promised.
            return self._result(Status.ERROR, started, error=f"required field {missing!r} missing from the answer")
        return SystemResult(
            system_id=self.id,
            status=Status.OK,
            fields=extracted.fields,
            tables=extracted.tables,
            elapsed_ms=_elapsed_ms(started),
        )

    def _missing_required(self, extracted: Extracted) -> str | None:
        for name, spec in self.config.fields.items():
            if spec.required and extracted.fields.get(name) in (None, ""):
                return name
        return None

    def _result(self, status: str | Status, started: float, error: str) -> SystemResult:
        return SystemResult(system_id=self.id, status=Status(status), elapsed_ms=_elapsed_ms(started), error=error)


def _elapsed_ms(started: float) -> int:
    return int(round((time.perf_counter() - started) * 1000))


def format_seconds(seconds: float) -> str:
    """``2.0``, ``0.25``, ``0.3``: short, and never ``2`` (people read "2.0 s" more easily)."""
    text = f"{seconds:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def render_key(template: str, key: str, escape=lambda s: s) -> str:
    """Fill ``{customer}`` in a request template; ``escape`` suits the wire format."""
    return template.replace("{customer}", escape(key))
