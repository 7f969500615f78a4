"""For admins: what one operator would see of one customer, and which rule decided each item."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from portal.accounts.service import Operator
from portal.adapters.fanout import fan_out
from portal.audit.record import Actor, Event, record
from portal.lookup.service import LookupService
from portal.rbac.policy import Decision
from portal.rbac.redact import Explanation, redact


@dataclass(frozen=True)
class SystemExplanation:
    system_id: str
    name: str
    shown: bool
    because: str
    status: str | None = None
    items: list[Explanation] = field(default_factory=list)


@dataclass(frozen=True)
class ExplainReport:
    username: str
    customer: str
    lookup: Decision
    systems: list[SystemExplanation] = field(default_factory=list)


def explain(service: LookupService, target: Operator, typed_number: str, session: Session,
            actor: Actor) -> ExplainReport:
    number = service.numbers.normalise(typed_number)
    record(session, actor, Event(action="user.explain", target=target.username, customer=number))
    session.flush()
    policy = target.policy
    if not policy.permits("customer.lookup"):
        return ExplainReport(target.username, number, Decision(False, "no role grants customer.lookup"))
    customer = policy.customer(number)
    if not customer.allowed:
        return ExplainReport(target.username, number, customer)

    adapters = [a for a in service.catalog.adapters(session) if a.config.enabled]
    visible = service.visible_adapters(target, session)
    results = dict(zip((a.id for a in visible),
                       fan_out(visible, number, deadline_s=service.deadline_s, executor=service.executor),
                       strict=True))
    systems = []
    for adapter in adapters:
        if adapter.id not in results:
            systems.append(SystemExplanation(adapter.id, adapter.config.name, False,
                                             f"no role grants system.{adapter.id}.view"))
            continue
        result = results[adapter.id]
        redacted = redact(policy, adapter.config, result)
        because = next((e.decision.because for e in redacted.explanations if e.item == "system"),
                       f"system.{adapter.id}.view granted")
        systems.append(SystemExplanation(adapter.id, adapter.config.name, redacted.visible, because,
                                         status=result.status.value, items=redacted.explanations))
    return ExplainReport(target.username, number, customer, systems)
