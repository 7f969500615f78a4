"""Bodies of ``/api/v1/monitor``: system states, one system's history, the portal's health, maintenance."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, ConfigDict, Field

from portal.monitor.maintenance import REASON_MAX
from portal.schemas import RequestBody, ResponseBody, Timestamp

SystemState = Literal["up", "degraded", "down", "unknown"]
WindowStatus = Literal["current", "upcoming", "ended", "cancelled"]


# -- maintenance windows ---------------------------------------------------------------------------

class WindowRequest(RequestBody):
    """Open a maintenance window; times are ISO 8601 (a time without an offset is UTC)."""

    system_id: str = Field(min_length=1, max_length=64, validation_alias=AliasChoices("system_id", "system"),
                           examples=["boss"], description="A system id, or '*' for every system")
    starts_at: Timestamp | None = Field(default=None, description="Default: now")
    ends_at: Timestamp = Field(description="At most 7 days after the start")
    reason: str = Field(min_length=1, max_length=REASON_MAX)


class Window(ResponseBody):
    id: int
    system_id: str
    starts_at: Timestamp
    ends_at: Timestamp
    reason: str
    created_by: str
    created_at: Timestamp | None
    cancelled_at: Timestamp | None
    cancelled_by: str | None
    status: WindowStatus


class WindowList(ResponseBody):
    windows: list[Window]


# -- systems ---------------------------------------------------------------------------------------

class Breaker(ResponseBody):
    """This portal instance's circuit breaker and bulkhead for the system (they are per process)."""

    state: Literal["closed", "open", "half_open"]
    failures: int | None
    retry_in_s: float | None
    in_flight: int | None
    max_concurrency: int | None


class HourStats(ResponseBody):
    checks: int
    errors: int
    error_rate: float | None
    p50_ms: int | None
    p95_ms: int | None
    p99_ms: int | None


class SystemStatus(ResponseBody):
    id: str
    name: str
    owner: str | None
    state: SystemState
    since: Timestamp | None
    reason: str | None
    last_check_at: Timestamp | None
    last_latency_ms: int | None
    last_error: str | None
    next_probe_at: Timestamp | None
    breaker: Breaker
    last_hour: HourStats
    maintenance: Window | None = Field(description="The window silencing the system now, if any")


class Probe(ResponseBody):
    ok: bool
    ms: float | None
    error: str | None


class Workers(ResponseBody):
    max_threads: int | None
    started: int | None
    busy: int | None
    queued: int | None


class Lease(ResponseBody):
    """Who runs the monitor process, as its lease says."""

    running: bool
    holder: str | None
    renewed_at: Timestamp | None
    expires_at: Timestamp | None
    renewed_s_ago: float | None
    error: str | None


class PortalHealth(ResponseBody):
    database: Probe
    redis: Probe | None = Field(description="null: no Redis configured")
    workers: Workers
    monitor: Lease


class MonitorOverview(ResponseBody):
    generated_at: Timestamp
    systems: list[SystemStatus] = Field(description="Most serious first")
    portal: PortalHealth


class Observation(ResponseBody):
    checked_at: Timestamp
    source: str = Field(description="connect, wsdl, canary or lookup")
    ok: bool
    status: str
    latency_ms: int | None
    error: str | None


class StateChange(ResponseBody):
    model_config = ConfigDict(populate_by_name=True)  # "from" is a Python keyword

    at: Timestamp
    from_: SystemState = Field(alias="from")
    to: SystemState
    reason: str | None


class AlertSent(ResponseBody):
    created_at: Timestamp
    kind: str = Field(description="down or recovered")
    channel: str = Field(description="email or sms")
    recipient: str
    status: str
    attempts: int
    sent_at: Timestamp | None
    error: str | None


class SystemDetail(ResponseBody):
    system: SystemStatus
    observations: list[Observation]
    recent_errors: list[Observation]
    transitions: list[StateChange]
    alerts: list[AlertSent]
    maintenance: list[Window]
