"""One lookup: authorise -> fan out to the visible systems -> apply field policy -> audit.

Engine code: takes a database session and an :class:`Operator`, knows nothing of Flask; flushes,
and leaves the commit to the caller's unit of work (a refusal is recorded whatever its outcome).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from portal.accounts.service import Operator
from portal.adapters.base import Adapter, SystemResult
from portal.adapters.fanout import fan_out
from portal.audit.record import Actor, Event, record, record_refusal
from portal.catalog.live import LiveCatalog
from portal.catalog.shadow import ShadowRunner
from portal.errors import BackendError, PermissionDenied, ResourceNotFound
from portal.numbers import NumberPolicy
from portal.rbac.policy import permits
from portal.rbac.redact import Redacted, redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SystemView:
    """One system's panel: its result after policy, and what the page needs to show it."""

    result: SystemResult
    name: str
    kind: str
    labels: dict[str, str]
    table_labels: dict[str, str]
    masked: list[str]
    rows_withheld: dict[str, int]
    deep_link: str | None

    def to_dict(self) -> dict[str, Any]:
        body = self.result.to_dict()
        body.update(
            name=self.name, kind=self.kind, labels=self.labels, table_labels=self.table_labels,
            masked=self.masked, rows_withheld=self.rows_withheld, deep_link=self.deep_link,
        )
        return body


@dataclass(frozen=True)
class CustomerView:
    customer: str
    elapsed_ms: int
    correlation_id: str
    systems: list[SystemView] = field(default_factory=list)
    withheld: int = 0  # systems a content rule withholds for this customer

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "elapsed_ms": self.elapsed_ms,
            "correlation_id": self.correlation_id,
            "systems": [system.to_dict() for system in self.systems],
            "withheld_systems": self.withheld,
        }


@dataclass(frozen=True)
class QuickChannel:
    """Where a quick channel leads: the system's adapter, its screen for the customer, the number."""

    adapter: Adapter
    url: str
    number: str


class LookupService:
    def __init__(self, catalog: LiveCatalog, executor: Executor, deadline_s: float, numbers: NumberPolicy,
                 shadow: ShadowRunner | None = None) -> None:
        self.catalog = catalog
        self.executor = executor
        self.deadline_s = deadline_s
        self.numbers = numbers
        self.shadow = shadow

    def visible_adapters(self, operator: Operator, session: Session) -> list[Adapter]:
        return [
            adapter for adapter in self.catalog.adapters(session)
            if adapter.config.enabled and permits(operator.permissions, f"system.{adapter.id}.view")
        ]

    def lookup(self, typed_number: str, operator: Operator, session: Session, actor: Actor,
               link_for: Callable[[str, str], str | None] = lambda system_id, number: None) -> CustomerView:
        """Ask every system the operator may see, at once, and record that they asked."""
        if not operator.policy.permits("customer.lookup"):
            raise PermissionDenied("your roles do not allow customer lookups")
        number = self.numbers.normalise(typed_number)
        correlation_id = uuid.uuid4().hex
        customer = operator.policy.customer(number)
        if not customer.allowed:
            # Nothing is asked of any system for a customer outside the operator's scope.
            record_refusal(session, actor, Event(action="customer.lookup", customer=number,
                                                 correlation_id=correlation_id, outcome="denied",
                                                 details={"because": customer.because}))
            raise PermissionDenied(f"customer {number} is outside what your roles may see")
        adapters = self.visible_adapters(operator, session)
        started = time.perf_counter()
        results = fan_out(adapters, number, deadline_s=self.deadline_s, executor=self.executor,
                          correlation_id=correlation_id)
        elapsed_ms = int(round((time.perf_counter() - started) * 1000))
        log.info("lookup %s by %s of %s in %d ms: %s", correlation_id, operator.username, number, elapsed_ms,
                 " ".join(f"{a.id}={r.status.value}" for a, r in zip(adapters, results, strict=True)))
        redacted = [redact(operator.policy, adapter.config, result) for adapter, result in zip(adapters, results, strict=True)]
        systems = [self._present(adapter, view, link_for(adapter.id, number))
                   for adapter, view in zip(adapters, redacted, strict=True) if view.visible]
        record(session, actor, Event(
            action="customer.lookup", customer=number, correlation_id=correlation_id,
            outcome="success",
            details={"elapsed_ms": elapsed_ms,
                     "systems": {r.system_id: r.status.value for r in results},
                     "latency_ms": {r.system_id: r.elapsed_ms for r in results},
                     # Refused by a circuit breaker or bulkhead: not asked, so no news of the system.
                     "not_attempted": [r.system_id for r in results if not r.attempted],
                     "withheld": [r.result.system_id for r in redacted if not r.visible]},
        ))
        session.flush()
        if self.shadow is not None:
            self.shadow.after_lookup(session, number, adapters, results)
        return CustomerView(customer=number, elapsed_ms=elapsed_ms, correlation_id=correlation_id, systems=systems,
                            withheld=sum(not r.visible for r in redacted))

    def open_system(self, system_id: str, typed_number: str, operator: Operator, session: Session,
                    actor: Actor) -> QuickChannel:
        """The system's own screen for the customer, after checking and recording the opening."""
        number = self.numbers.normalise(typed_number)
        adapter = self.catalog.get(session, system_id)
        if adapter is None or not adapter.config.enabled or adapter.config.deep_link is None:
            raise ResourceNotFound(f"no quick channel for system {system_id!r}")
        if not permits(operator.permissions, f"system.{system_id}.open"):
            raise PermissionDenied(f"your roles do not allow opening {adapter.config.name}")
        if not operator.policy.customer(number).allowed:
            # The content layer holds for quick channels too, not only for the combined view.
            raise PermissionDenied(f"customer {number} is outside what your roles may see")
        url = adapter.config.deep_link.url.replace("{customer}", number)
        record(session, actor, Event(action="system.open", target=system_id, customer=number,
                                     details={"sso": adapter.config.deep_link.sso}))
        session.flush()
        return QuickChannel(adapter=adapter, url=url, number=number)

    def reveal(self, typed_number: str, system_id: str, field_name: str, operator: Operator, session: Session,
               actor: Actor) -> str | None:
        """One masked value in clear, for a role holding ``customer.reveal``; always audited."""
        policy = operator.policy
        if not policy.permits("customer.reveal"):
            raise PermissionDenied("your roles do not allow revealing masked values")
        number = self.numbers.normalise(typed_number)
        if not policy.customer(number).allowed:
            raise PermissionDenied(f"customer {number} is outside what your roles may see")
        adapter = next((a for a in self.visible_adapters(operator, session) if a.id == system_id), None)
        if adapter is None or field_name not in adapter.config.fields:
            raise ResourceNotFound(f"no field {field_name!r} in system {system_id!r} for you")
        grant = policy.field(adapter.config.fields[field_name].sensitivity)
        if grant.action == "hide":
            raise PermissionDenied(f"{field_name!r} is hidden for your roles and cannot be revealed")
        result = adapter.lookup(number, timeout=self.deadline_s)
        if result.status.value != "ok":
            raise BackendError(f"{adapter.config.name} did not answer: {result.error or result.status.value}")
        if not policy.system(system_id, result.fields).allowed:
            raise PermissionDenied(f"{adapter.config.name} is withheld for this customer")
        record(session, actor, Event(action="customer.reveal", target=f"{system_id}.{field_name}", customer=number,
                                     details={"system": system_id, "field": field_name}))
        session.flush()
        value = result.fields.get(field_name)
        return None if value is None else str(value)

    @staticmethod
    def _present(adapter: Adapter, redacted: Redacted, link: str | None) -> SystemView:
        config = adapter.config
        shown = set(redacted.result.fields)
        return SystemView(
            result=redacted.result,
            name=config.name,
            kind=config.kind,
            labels={name: config.label_of(name) for name in config.fields if name in shown},
            table_labels={name: spec.label or name.replace("_", " ").capitalize() for name, spec in config.tables.items()},
            masked=redacted.masked,
            rows_withheld=redacted.rows_withheld,
            deep_link=link if config.deep_link else None,
        )
