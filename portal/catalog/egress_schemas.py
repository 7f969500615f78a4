"""The body of ``GET /api/v1/egress`` (:func:`portal.catalog.egress_report.egress_report`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.schemas import ResponseBody


class EgressRule(ResponseBody):
    label: str
    hosts: list[str]
    cidrs: list[str]
    ports: str = Field(description='"every port", or e.g. "443,8200-8212"')
    teams: list[str] = Field(description="Empty: the rule applies to every owner team")


class RefusedRange(ResponseBody):
    network: str
    what: str


class OwnAddress(ResponseBody):
    """One of the portal's own services, which adapters may not reach unless a rule names it."""

    what: str
    host: str
    port: int
    addresses: list[str]
    every_local_address: bool


class EgressPolicy(ResponseBody):
    default: Literal["deny"]
    rules: list[EgressRule]
    refused: list[RefusedRange] = Field(description="Refused unless a rule lists the address explicitly")
    own_addresses: list[OwnAddress]


class BoundaryInfo(ResponseBody):
    guarded: bool
    regex_budget_s: float
    credential_bindings: dict[str, str]
    config_dir: str | None


class EgressReport(ResponseBody):
    enforced: bool = Field(description="False: adapters may connect anywhere (no [egress] policy)")
    egress: EgressPolicy | None
    boundary: BoundaryInfo
