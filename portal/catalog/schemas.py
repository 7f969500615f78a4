"""Bodies of ``/api/v1/adapters/...`` as pydantic models: validated at the edge, described in OpenAPI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from portal.adapters.config import ADAPTER_ID
from portal.lookup.schemas import SystemResult
from portal.schemas import RequestBody, ResponseBody, Timestamp

VersionStateName = Literal["draft", "approved", "live", "retired"]


# -- requests ------------------------------------------------------------------------------------

class _AdapterKeys(BaseModel):
    """The adapter TOML document as JSON (docs/adapters.md).

    Only the keys every kind shares are described here; the kind's own sections (``url``,
    ``request``, ``wsdl``, ...) are checked by the adapter's own models when the document is
    saved, which name the bad key in the 422 (``fields.x.path``). So this model documents the
    body and the engine validates it: there is one set of adapter rules, not two.
    """

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    kind: str = Field(min_length=1, description="html, xml, soap, socket, or a plug-in's kind")
    owner: str | None = Field(default=None, description="The owner team; default: the caller's only team")
    enabled: bool = True


class AdapterDocument(_AdapterKeys):
    """A new adapter's document."""

    id: str = Field(pattern=ADAPTER_ID.pattern, examples=["points2"])


class AdapterRevision(_AdapterKeys):
    """A new version of a registered adapter's document; the id may be left out, and cannot change."""

    id: str | None = Field(default=None, pattern=ADAPTER_ID.pattern)


class TestRequest(RequestBody):
    """Run one version of an adapter for one customer number."""

    number: str = Field(min_length=1, max_length=40, examples=["13800000000"],
                        description="The customer number, as an agent would type it")
    version: int | None = Field(default=None, ge=1, description="Default: the newest version")


class RollbackRequest(RequestBody):
    """Make an earlier approved version live again."""

    to_version: int | None = Field(default=None, ge=1,
                                   description="Default: the newest approved version older than the live one")


class ShadowRequest(RequestBody):
    """Run a draft or approved version beside the live one on real lookups."""

    version: int = Field(ge=1)


# -- responses -----------------------------------------------------------------------------------

class VersionSummary(ResponseBody):
    version: int
    change: str = Field(description="create, update or delete")
    state: VersionStateName
    changed_by: str
    changed_at: Timestamp
    approved_by: str | None


class Version(VersionSummary):
    document: dict[str, Any] | None = Field(description="null for a deletion")


class VersionList(ResponseBody):
    versions: list[Version]


class AdapterSummary(ResponseBody):
    """An adapter as admins and owners see it in a list."""

    id: str
    name: str | None
    kind: str | None
    owner: str | None
    enabled: bool
    source: Literal["file", "database"]
    state: VersionStateName
    version: int | None = Field(description="The newest version (null for a file)")
    live_version: int | None
    shadow_version: int | None
    updated_by: str | None
    updated_at: Timestamp | None
    editable: bool
    error: str | None = Field(description="Why a stored document does not load, if it does not")


class Adapter(AdapterSummary):
    document: dict[str, Any]
    versions: list[VersionSummary]


class AdapterList(ResponseBody):
    adapters: list[AdapterSummary]


class ConsoleResult(SystemResult):
    raw_excerpt: str | None = Field(default=None,
                                    description="The start of the raw answer: adapters.raw only (audited)")


class TestReport(ResponseBody):
    """One test run, masked and withheld by the tester's own grants."""

    key: str = Field(description="What the system was asked about (the number, or an upstream field)")
    version: int | None
    result: ConsoleResult
    masked: list[str]
    rows_withheld: dict[str, int]
    withheld: bool
    raw_allowed: bool


class Transition(ResponseBody):
    """What one lifecycle step changed."""

    adapter_id: str
    action: str
    version: int | None
    live_before: int | None
    live_after: int | None


class FieldAgreement(ResponseBody):
    same: int
    differs: int
    missing: int
    new: int
    agreement: float | None


class ShadowReport(ResponseBody):
    """How a candidate version agreed with the live one over its last shadow runs."""

    adapter_id: str
    version: int
    lookups: int
    statuses: dict[str, int] = Field(description='"live -> candidate" status pairs and how often each occurred')
    status_agreement: float | None
    fields: dict[str, FieldAgreement]
