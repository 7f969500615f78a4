"""Apply an operator's field and content layers to one system's result.

Whatever is hidden or masked here never leaves the server: the lookup service
builds pages and JSON only from what :func:`redact` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from portal.adapters.base import Status, SystemResult
from portal.adapters.config import AdapterConfig
from portal.rbac.masking import apply_mask
from portal.rbac.policy import AccessPolicy, Decision

DEFAULT_MASK = "keep_last:4"


@dataclass(frozen=True)
class Explanation:
    item: str  # "system", "field <name>", "row <table>[<i>]"
    decision: Decision


@dataclass(frozen=True)
class Redacted:
    result: SystemResult
    visible: bool  # False: a content rule withholds the whole system for this customer
    masked: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    rows_withheld: dict[str, int] = field(default_factory=dict)
    explanations: list[Explanation] = field(default_factory=list)


def redact(policy: AccessPolicy, config: AdapterConfig, result: SystemResult) -> Redacted:
    explanations: list[Explanation] = []
    if result.status is Status.OK:
        system = policy.system(config.id, result.fields)
        explanations.append(Explanation("system", system))
        if not system.allowed:
            withheld = SystemResult(system_id=result.system_id, status=result.status, elapsed_ms=result.elapsed_ms)
            return Redacted(result=withheld, visible=False, explanations=explanations)

    fields, masked, hidden = {}, [], []
    for name, value in result.fields.items():
        spec = config.fields.get(name)
        decision = policy.field(spec.sensitivity if spec else "internal")
        explanations.append(Explanation(f"field {name}", decision))
        if decision.action == "hide":
            hidden.append(name)
        elif decision.action == "mask" and value is not None:
            fields[name] = apply_mask(str(value), (spec.mask if spec else None) or DEFAULT_MASK)
            masked.append(name)
        else:
            fields[name] = value

    tables, withheld_rows = {}, {}
    for table, rows in result.tables.items():
        kept = []
        for index, row in enumerate(rows):
            decision = policy.row(config.id, table, row)
            explanations.append(Explanation(f"row {table}[{index}]", decision))
            if decision.allowed:
                kept.append(row)
        tables[table] = kept
        if len(kept) < len(rows):
            withheld_rows[table] = len(rows) - len(kept)

    return Redacted(
        # The raw answer holds every value unredacted: it never goes past this point.
        result=replace(result, fields=fields, tables=tables, raw_excerpt=None),
        visible=True, masked=masked, hidden=hidden, rows_withheld=withheld_rows, explanations=explanations,
    )


CONSOLE_HIDDEN_MASK = "all"


def redact_for_console(policy: AccessPolicy, config: AdapterConfig, result: SystemResult) -> Redacted:
    """The adapters' test console: never more than the tester's own lookup would show.

    A tester who looks customers up sees what their lookup shows: content rules
    withhold the system or rows, masked fields stay masked — and a field their
    lookup would hide appears fully masked (``••••``), so that the owner can see
    the adapter found *something* without seeing it. A tester without any
    lookup role (an admin, a system owner) sees ``public`` fields and every
    other value fully masked, table cells included. The raw answer is never
    part of this: it is shown only to holders of ``adapters.raw``.
    """
    if policy.looks_up:
        base = redact(policy, config, result)
        if not base.visible:
            return base
        fields, masked = dict(base.result.fields), list(base.masked)
        for name in base.hidden:
            value = result.fields.get(name)
            if value is not None:
                fields[name] = apply_mask(str(value), CONSOLE_HIDDEN_MASK)
                masked.append(name)
        return replace(base, result=replace(base.result, fields=fields), masked=masked, hidden=[])
    fields, masked = {}, []
    for name, value in result.fields.items():
        spec = config.fields.get(name)
        if value is None or (spec is not None and spec.sensitivity == "public"):
            fields[name] = value
        else:
            fields[name] = apply_mask(str(value), CONSOLE_HIDDEN_MASK)
            masked.append(name)
    tables = {table: [{column: apply_mask(str(v), CONSOLE_HIDDEN_MASK) if v is not None else None
                       for column, v in row.items()} for row in rows]
              for table, rows in result.tables.items()}
    return Redacted(result=replace(result, fields=fields, tables=tables, raw_excerpt=None), visible=True,
                    masked=masked)
