"""One lookup: authorise -> fan out to the visible systems -> apply field policy -> audit.

Engine code: takes a database session and an :class:`Operator`, knows nothing of Flask.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from portal.accounts.service import Operator
from portal.adapters.base import Adapter, SystemResult
from portal.adapters.fanout import fan_out
from portal.audit.record import Actor, Event, record
from portal.catalog.live import LiveCatalog
from portal.errors import PermissionDenied, ResourceNotFound
from portal.lookup.numbers import NumberPolicy
from portal.rbac.masking import apply_mask
from portal.rbac.policy import permits

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
    deep_link: str | None

    def to_dict(self) -> dict[str, Any]:
        body = self.result.to_dict()
        body.update(
            name=self.name, kind=self.kind, labels=self.labels, table_labels=self.table_labels,
            masked=self.masked, deep_link=self.deep_link,
        )
        return body


@dataclass(frozen=True)
class CustomerView:
    customer: str
    elapsed_ms: int
    correlation_id: str
    systems: list[SystemView] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "elapsed_ms": self.elapsed_ms,
            "correlation_id": self.correlation_id,
            "systems": [system.to_dict() for system in self.systems],
        }


class LookupService:
    def __init__(self, catalog: LiveCatalog, executor: Executor, deadline_s: float, numbers: NumberPolicy) -> None:
        self.catalog = catalog
        self.executor = executor
        self.deadline_s = deadline_s
        self.numbers = numbers

    def visible_adapters(self, operator: Operator, session: Session) -> list[Adapter]:
        return [
            adapter for adapter in self.catalog.adapters(session)
            if adapter.config.enabled and permits(operator.permissions, f"system.{adapter.id}.view")
        ]

    def lookup(self, typed_number: str, operator: Operator, session: Session, actor: Actor,
               link_for=lambda system_id, number: None) -> CustomerView:
        """Ask every system the operator may see, at once, and record that they asked."""
        if not permits(operator.permissions, "customer.lookup"):
            raise PermissionDenied("your roles do not allow customer lookups")
        number = self.numbers.normalise(typed_number)
        correlation_id = uuid.uuid4().hex
        adapters = self.visible_adapters(operator, session)
        started = time.perf_counter()
        results = fan_out(adapters, number, deadline_s=self.deadline_s, executor=self.executor,
                          correlation_id=correlation_id)
        elapsed_ms = int(round((time.perf_counter() - started) * 1000))
        log.info("lookup %s by %s of %s in %d ms: %s", correlation_id, operator.username, number, elapsed_ms,
                 " ".join(f"{a.id}={r.status.value}" for a, r in zip(adapters, results)))
        systems = [self._present(adapter, result, operator, link_for(adapter.id, number))
                   for adapter, result in zip(adapters, results)]
        record(session, actor, Event(
            action="customer.lookup", customer=number, correlation_id=correlation_id,
            outcome="success",
            details={"elapsed_ms": elapsed_ms,
                     "systems": {s.result.system_id: s.result.status.value for s in systems}},
        ))
        session.commit()
        return CustomerView(customer=number, elapsed_ms=elapsed_ms, correlation_id=correlation_id, systems=systems)

    def deep_link(self, system_id: str, typed_number: str, operator: Operator, session: Session,
                  actor: Actor) -> str:
        """The system's own screen for the customer, after checking and recording the opening."""
        number = self.numbers.normalise(typed_number)
        adapter = self.catalog.get(session, system_id)
        if adapter is None or not adapter.config.enabled or adapter.config.deep_link is None:
            raise ResourceNotFound(f"no quick channel for system {system_id!r}")
        if not permits(operator.permissions, f"system.{system_id}.open"):
            raise PermissionDenied(f"your roles do not allow opening {adapter.config.name}")
        url = adapter.config.deep_link.url.replace("{customer}", number)
        record(session, actor, Event(action="system.open", target=system_id, customer=number,
                                     details={"sso": adapter.config.deep_link.sso}))
        session.commit()
        return url

    @staticmethod
    def _present(adapter: Adapter, result: SystemResult, operator: Operator, link: str | None) -> SystemView:
        config = adapter.config
        may_reveal = permits(operator.permissions, "customer.reveal")
        fields = dict(result.fields)
        masked = []
        for name, spec in config.fields.items():
            if spec.mask and not may_reveal and fields.get(name) is not None:
                fields[name] = apply_mask(str(fields[name]), spec.mask)
                masked.append(name)
        return SystemView(
            result=replace(result, fields=fields),
            name=config.name,
            kind=config.kind,
            labels={name: config.label_of(name) for name in config.fields},
            table_labels={name: spec.label or name.replace("_", " ").capitalize() for name, spec in config.tables.items()},
            masked=masked,
            deep_link=link if config.deep_link else None,
        )
