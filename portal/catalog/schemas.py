"""Request bodies of ``/api/v1/adapters/...`` as pydantic models: validated at the edge, described in OpenAPI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestRequest(_Body):
    """Run one version of an adapter for one customer number."""

    number: str = Field(min_length=1, max_length=40, description="The customer number, as an agent would type it")
    version: int | None = Field(default=None, ge=1, description="Default: the newest version")


class RollbackRequest(_Body):
    """Make an earlier approved version live again."""

    to_version: int | None = Field(default=None, ge=1,
                                   description="Default: the newest approved version older than the live one")


class ShadowRequest(_Body):
    """Run a draft or approved version beside the live one on real lookups."""

    version: int = Field(ge=1)


SCHEMAS: tuple[type[BaseModel], ...] = (TestRequest, RollbackRequest, ShadowRequest)
