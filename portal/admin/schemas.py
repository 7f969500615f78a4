"""Bodies of ``/api/v1/users`` and ``/api/v1/roles``.

The models check types and lengths at the edge (a 422 naming the key); what needs the database or
the rules of the portal (a username's form, known role names, the last administrator, content
rules) stays in the engine (:mod:`portal.accounts.admin`, :mod:`portal.rbac.roles`), which the
pages and the CLI use too.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from portal.accounts.passwords import MIN_PASSWORD_LENGTH
from portal.rbac.rules import ContentRule, FieldAction, parse_content_rules
from portal.schemas import RequestBody, ResponseBody, Timestamp

Name = Annotated[str, Field(min_length=1, max_length=64)]
Password = Annotated[str, Field(max_length=1024, json_schema_extra={"writeOnly": True},
                                description=f"At least {MIN_PASSWORD_LENGTH} characters")]


# -- operators -------------------------------------------------------------------------------------

class UserChange(RequestBody):
    """What ``PATCH /users/{username}`` may change; keys left out stay as they are."""

    display_name: str | None = Field(default=None, max_length=200, examples=["Wang Fang"])
    email: str | None = Field(default=None, max_length=254, description="null clears it",
                              examples=["wang.fang@example.cn"])
    phone: str | None = Field(default=None, max_length=32, description="null clears it", examples=["13800000001"])
    region: str | None = Field(default=None, max_length=64, description="null clears it", examples=["north"])
    roles: list[Name] = Field(default_factory=list, description="Role names; an enabled operator needs one",
                              examples=[["agent"]])
    teams: list[Name] = Field(default_factory=list, examples=[["billing"]])
    enabled: bool = True
    password: Password | None = Field(default=None, description="A new password; null or absent: unchanged",
                                      examples=["correct horse battery"])


class UserCreate(UserChange):
    """A new operator; ``username`` is kept in lower case."""

    username: str = Field(min_length=2, max_length=64, examples=["wang.fang"],
                          description="2-64 characters of a-z, 0-9, '.', '_' or '-'")


class User(ResponseBody):
    username: str
    display_name: str
    email: str | None
    phone: str | None
    region: str | None
    roles: list[str]
    teams: list[str]
    enabled: bool
    has_password: bool
    created_at: Timestamp | None
    last_login_at: Timestamp | None


class UserList(ResponseBody):
    users: list[User]


# -- roles -----------------------------------------------------------------------------------------

class RoleChange(RequestBody):
    """A role's whole content (``PUT`` replaces it); ``name``, if given, must be the role's own."""

    name: str | None = Field(default=None, description="2-64 characters of a-z, 0-9, '_' or '-', from a letter")
    description: str = Field(default="", max_length=500)
    permissions: list[str] = Field(default_factory=list, examples=[["customer.lookup", "system.*.view"]])
    field_grants: dict[str, FieldAction] = Field(default_factory=dict, examples=[{"pii": "mask", "*": "show"}],
                                                 description="Sensitivity class (or *) -> show, mask or hide")
    content_rules: list[ContentRule] = Field(default_factory=list,
                                             examples=[[{"type": "customers", "patterns": ["1380000*"]}]])
    builtin: bool | None = Field(default=None, description="Read-only: sent back as GET gave it, ignored")

    @field_validator("content_rules", mode="before")
    @classmethod
    def _rules_named_as_the_engine_names_them(cls, value: Any) -> Any:
        # The engine's parser raises InvalidDocument("content_rules[0].op", ...), which pydantic lets
        # through; pydantic's own key would carry the rule type ("content_rules[0].records.op").
        parse_content_rules(value)
        return value


class RoleCreate(RoleChange):
    name: str = Field(min_length=2, max_length=64, examples=["vip_desk"],
                      description="2-64 characters of a-z, 0-9, '_' or '-', starting with a letter")


class Role(ResponseBody):
    name: str
    description: str
    permissions: list[str]
    field_grants: dict[str, FieldAction]
    content_rules: list[ContentRule]
    builtin: bool


class RoleList(ResponseBody):
    roles: list[Role]
