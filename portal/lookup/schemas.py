"""Bodies of ``/api/v1/customers/...``: the combined view and the reveal of one masked value."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.schemas import RequestBody, ResponseBody

ResultStatus = Literal["ok", "not_found", "error", "timeout", "unavailable"]
#: A field's value as the caller may see it: text (perhaps masked), or null when the system had none.
Value = str | None


class SystemResult(ResponseBody):
    """What one system said about the customer (:class:`portal.adapters.base.SystemResult`)."""

    system_id: str
    status: ResultStatus
    fields: dict[str, Value]
    tables: dict[str, list[dict[str, Value]]]
    elapsed_ms: int
    error: str | None


class SystemPanel(SystemResult):
    """One system's panel of the combined view, after the caller's field grants and content rules."""

    name: str
    kind: str
    labels: dict[str, str]
    table_labels: dict[str, str]
    masked: list[str] = Field(description="Fields shown masked; customer.reveal may show one in clear")
    rows_withheld: dict[str, int] = Field(description="Per table: rows a content rule withholds")
    deep_link: str | None = Field(description="The audited quick channel into the system, if it has one")


class CustomerView(ResponseBody):
    """The combined view: every system the caller may see, in one answer."""

    customer: str = Field(description="The number as normalised by the portal")
    elapsed_ms: int
    correlation_id: str
    systems: list[SystemPanel]
    withheld_systems: int = Field(description="Systems a content rule withholds for this customer")


class RevealRequest(RequestBody):
    """Which masked value to show in clear (audited)."""

    system: str = Field(min_length=1, max_length=64, examples=["boss"])
    field: str = Field(min_length=1, max_length=64, examples=["id_number"])


class Revealed(ResponseBody):
    customer: str
    system: str
    field: str
    value: str | None
