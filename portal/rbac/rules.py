"""Role data validated at save: field grants and content rules (no ``eval``, only these shapes).

Content rules of one role::

    {"type": "customers", "patterns": ["1380000*", "13900??????"]}
        the role sees only customers whose number matches one pattern (digits, ``*``, ``?``)

    {"type": "records", "system": "boss", "table": "bills", "field": "paid",
     "op": "eq", "value": "false", "effect": "deny"}
        with ``table``: applies to that table's rows; without: to the whole system panel;
        ``effect = "deny"`` hides what matches, ``"allow"`` shows only what matches.
        ``system`` may be ``*``. Operators: eq, ne, in, not_in, contains, empty, not_empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from portal.errors import InvalidDocument

FieldAction = Literal["show", "mask", "hide"]
ACTIONS: tuple[str, ...] = ("hide", "mask", "show")  # least to most permissive
SENSITIVITY = re.compile(r"^(\*|[a-z][a-z0-9_]*)$")
NUMBER_PATTERN = re.compile(r"^[0-9*?]{1,32}$")
SYSTEM_ID = re.compile(r"^(\*|[a-z][a-z0-9_-]{1,31})$")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerRule(_Rule):
    type: Literal["customers"]
    patterns: tuple[str, ...] = Field(min_length=1)

    @field_validator("patterns")
    @classmethod
    def _digits_and_wildcards(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            if not NUMBER_PATTERN.match(pattern):
                raise ValueError(f"{pattern!r}: use digits with * and ? only")
        return patterns


class RecordRule(_Rule):
    type: Literal["records"]
    system: str = Field(pattern=SYSTEM_ID.pattern)
    table: str | None = None
    field: str = Field(min_length=1, max_length=64)
    op: Literal["eq", "ne", "in", "not_in", "contains", "empty", "not_empty"]
    value: str | list[str] | None = None
    effect: Literal["allow", "deny"] = "deny"

    @model_validator(mode="after")
    def _value_fits_op(self) -> RecordRule:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list of values")
        if self.op in ("eq", "ne", "contains") and not isinstance(self.value, str):
            raise ValueError(f"op {self.op!r} needs one string value")
        if self.op in ("empty", "not_empty") and self.value is not None:
            raise ValueError(f"op {self.op!r} takes no value")
        return self

    def matches(self, values: Mapping[str, Any]) -> bool:
        raw = values.get(self.field)
        text = "" if raw is None else str(raw)
        if self.op == "eq":
            return text == self.value
        if self.op == "ne":
            return text != self.value
        if self.op == "in":
            return text in self.value  # type: ignore[operator]
        if self.op == "not_in":
            return text not in self.value  # type: ignore[operator]
        if self.op == "contains":
            return str(self.value) in text
        if self.op == "empty":
            return text == ""
        return text != ""

    def applies_to(self, system_id: str, table: str | None) -> bool:
        return self.system in ("*", system_id) and self.table == table


ContentRule = Annotated[CustomerRule | RecordRule, Field(discriminator="type")]
_RULES = TypeAdapter(list[ContentRule])


def parse_content_rules(data: Any) -> list[CustomerRule | RecordRule]:
    """Validate a role's content rules; an error names the rule's position and key."""
    try:
        return _RULES.validate_python(data if data is not None else [])
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"] if p not in ("customers", "records")]
        key = "content_rules" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc)
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        raise InvalidDocument(key, reason) from exc


def parse_field_grants(data: Any) -> dict[str, str]:
    """Validate sensitivity class -> show/mask/hide."""
    if not isinstance(data, dict):
        raise InvalidDocument("field_grants", "must map sensitivity classes to show, mask or hide")
    for name, action in data.items():
        if not isinstance(name, str) or not SENSITIVITY.match(name):
            raise InvalidDocument(f"field_grants.{name}", "a sensitivity class is a lowercase word, or *")
        if action not in ACTIONS:
            raise InvalidDocument(f"field_grants.{name}", "must be show, mask or hide")
    return dict(data)
