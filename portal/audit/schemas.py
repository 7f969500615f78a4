"""Bodies of ``/api/v1/audit`` and ``/api/v1/stats`` (all responses: auditors only read)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from portal.schemas import ResponseBody, Timestamp

# -- the log ---------------------------------------------------------------------------------------


class AuditEvent(ResponseBody):
    """One event (:func:`portal.audit.export.event_document`): the API's, the exports' and the SIEM's form."""

    seq: int = Field(description="Its place in the hash chain")
    occurred_at: Timestamp
    actor: str
    roles: list[str]
    action: str
    target: str | None
    customer: str | None
    outcome: str
    client_addr: str | None
    correlation_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(ResponseBody):
    events: list[AuditEvent]
    next_cursor: int | None = Field(description="Pass as ?cursor= for the next page; null on the last")
    next: str | None = Field(description="The next page's URL, filters kept")


class ChainProblem(ResponseBody):
    kind: Literal["modified", "deleted", "inserted", "reordered"]
    seq: int | None
    id: int | None
    detail: str


class Verification(ResponseBody):
    """What walking the hash chain found (:class:`portal.audit.chain.Report`)."""

    ok: bool
    checked: int
    anchor_seq: int
    anchor_hash: str
    head_seq: int | None
    head_hash: str | None
    first_seq: int | None
    last_seq: int | None
    problems: list[ChainProblem]
    truncated: bool = Field(description="More problems than are listed")
    from_checkpoint: bool


# -- statistics ------------------------------------------------------------------------------------

class Count(ResponseBody):
    key: str | int = Field(description="Who or what was counted (an hour of the day is a number)")
    count: int


class StatsWindow(ResponseBody):
    since: Timestamp
    until: Timestamp


class Logins(ResponseBody):
    succeeded: int
    failed: int
    failed_by_day: list[Count]
    failed_by_username: list[Count]
    failed_by_address: list[Count]


class SystemLookups(ResponseBody):
    system: str
    lookups: int
    statuses: dict[str, int]
    max_ms: int | None
    mean_ms: float | None
    ok_ratio: float | None


class OutlierReason(ResponseBody):
    measure: Literal["operations", "reveals", "customers", "off_hours", "out_of_scope"]
    value: int
    peer_median: float
    score: float


class Outlier(ResponseBody):
    """An operator standing far out from their peers, and on which measures."""

    actor: str
    operations: int
    reveals: int
    customers: int
    off_hours: int
    out_of_scope: int
    reasons: list[OutlierReason]


class StatsOverview(ResponseBody):
    window: StatsWindow
    total: int
    by_actor: list[Count]
    by_action: list[Count]
    by_system: list[Count]
    by_day: list[Count]
    by_hour: list[Count]
    logins: Logins
    lookups: list[SystemLookups]
    outliers: list[Outlier]


class OperationCounts(ResponseBody):
    by: Literal["actor", "action", "system", "day", "hour", "outcome"]
    counts: list[Count]


class LookupStats(ResponseBody):
    systems: list[SystemLookups]


class OutlierList(ResponseBody):
    operators: list[Outlier]
