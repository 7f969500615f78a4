"""The adapter document (DESIGN §3), validated once when it is loaded.

The same document comes from a TOML file in ``config/adapters/`` or, later, from
the database. Common keys are checked here; the keys of each kind are checked by
that kind's ``Options`` model. Unknown keys are errors. Every error is a
:class:`portal.errors.ConfigError` naming the source, the key and the reason.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portal.errors import ConfigError

ADAPTER_ID = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")

COMMON_KEYS = {"id", "name", "kind", "owner", "enabled", "timeout_s", "fields", "tables", "deep_link", "description"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One data item: where it is in the response and how sensitive it is."""

    path: str = Field(min_length=1)
    label: str | None = None
    sensitivity: str = Field(default="internal", pattern=r"^[a-z][a-z0-9_]*$")
    mask: str | None = None
    required: bool = False


class TableSpec(_Strict):
    """A list of records: where the rows are and which columns to keep."""

    path: str = Field(min_length=1)
    columns: dict[str, str] = Field(min_length=1)
    label: str | None = None


class DeepLinkSpec(_Strict):
    url: str = Field(pattern=r"^https?://")
    sso: Literal["token", "form", "none"] = "none"


class AdapterConfig(_Strict):
    """The keys every adapter has, whatever its kind."""

    id: str = Field(pattern=ADAPTER_ID.pattern)
    name: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    owner: str | None = None
    description: str | None = None
    enabled: bool = True
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    tables: dict[str, TableSpec] = Field(default_factory=dict)
    deep_link: DeepLinkSpec | None = None

    def label_of(self, field_name: str) -> str:
        spec = self.fields.get(field_name)
        return (spec.label if spec and spec.label else field_name.replace("_", " ").capitalize())


OptionsLookup = Callable[[str], "type[BaseModel] | None"]


def parse_adapter_document(
    data: dict[str, Any], source: str, options_for: OptionsLookup
) -> tuple[AdapterConfig, BaseModel]:
    """Validate one adapter document; returns the common config and the kind's options."""
    if not isinstance(data, dict):
        raise ConfigError(source, None, "an adapter document must be a table of keys")
    common = {k: v for k, v in data.items() if k in COMMON_KEYS}
    rest = {k: v for k, v in data.items() if k not in COMMON_KEYS}
    config = _validate(AdapterConfig, common, source)
    options_model = options_for(config.kind)
    if options_model is None:
        raise ConfigError(source, "kind", f"unknown adapter kind {config.kind!r}")
    options = _validate(options_model, rest, source)
    return config, options


def read_adapter_file(path: Path, options_for: OptionsLookup) -> tuple[AdapterConfig, BaseModel]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot be read: {exc.strerror}") from exc
    return parse_adapter_document(data, str(path), options_for)


def _validate(model: type[BaseModel], data: dict[str, Any], source: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or None
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        if first["type"] == "value_error":
            reason = reason.removeprefix("Value error, ")  # our own validators' words, as written
        raise ConfigError(source, key, reason) from exc
