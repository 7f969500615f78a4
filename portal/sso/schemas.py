"""Bodies of ``/api/v1/sso/credentials``: write-only secrets in, descriptions (never secrets) out."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.schemas import RequestBody, ResponseBody, Timestamp


class CredentialBody(RequestBody):
    """The login an operator (or ``*``, the service account) uses at a system."""

    login_username: str = Field(min_length=1, max_length=200, examples=["portal-svc"])
    password: str = Field(min_length=1, max_length=1024, json_schema_extra={"writeOnly": True},
                          description="Encrypted on the way in; never listed, returned or audited")


class CredentialEntry(ResponseBody):
    system: str
    system_name: str
    operator: str = Field(description="A portal username, or * for the system's service account")
    login_username: str
    updated_at: Timestamp
    credential: str | None = Field(description="The credential set a service account serves adapters as")
    bound_to: str | None = Field(description="system:<id> or team:<team>")


class CredentialUse(ResponseBody):
    """One credential set a system's adapter may use, and where its login would come from now."""

    name: str
    bound_to: str
    source: Literal["environment", "encrypted store", "not set"]
    where: str
    used_by: list[str]


class SystemCredentials(ResponseBody):
    system: str
    system_name: str
    owner: str | None
    may_use: list[CredentialUse]
    refused: list[str] = Field(description="Credential sets the document names but may not use, and why")


class CredentialListing(ResponseBody):
    credentials: list[CredentialEntry]
    systems: dict[str, str] = Field(description="id -> name of the systems the caller manages")
    bindings: list[SystemCredentials]
