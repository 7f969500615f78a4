"""The adapter document (DESIGN §3), validated once when it is loaded.

The same document comes from a TOML file in ``config/adapters/`` or, later, from
the database. Common keys are checked here; the keys of each kind are checked by
that kind's ``Options`` model. Unknown keys are errors. Every error is a
:class:`portal.errors.ConfigError` naming the source, the key and the reason.

The common keys include the adapter's *key template* (``key``, see
:func:`key_references`; whether the adapters it names exist is checked later, by
:mod:`portal.adapters.chain`, because one document cannot know the others) and the
resilience settings read by :mod:`portal.adapters.resilience`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from portal.adapters.masks import parse_mask
from portal.adapters.templates import Template
from portal.errors import ConfigError

ADAPTER_ID = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")

COMMON_KEYS = {
    "id", "name", "kind", "owner", "enabled", "timeout_s", "fields", "tables", "deep_link", "description",
    # key chaining (portal.adapters.chain)
    "key",
    # resilience (portal.adapters.resilience)
    "retries", "retry_backoff_s", "breaker_failures", "breaker_reset_s", "max_concurrency",
    # health checks (portal.monitor)
    "probe",
}

CUSTOMER = "customer"
DEFAULT_KEY = "{customer}"
# One placeholder: {customer} or {<adapter id>.<field name>}; anything else between braces is an error.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
REFERENCE = re.compile(r"^(?P<adapter>[a-z][a-z0-9_-]{1,31})\.(?P<field>[A-Za-z0-9_-]+)$")


class KeyReference(NamedTuple):
    """``{boss.account_id}``: the field ``account_id`` of adapter ``boss``."""

    adapter: str
    field: str

    def __str__(self) -> str:
        return f"{self.adapter}.{self.field}"


@functools.lru_cache(maxsize=1024)  # parsed on every lookup; templates are few
def key_references(template: str) -> tuple[KeyReference, ...]:
    """The upstream fields a key template reads, in order; ``ValueError`` (a reason) if malformed.

    Checked when the document loads, so a typo shows up as "file: key: reason"
    at start-up rather than as an error panel on every lookup.
    """
    if not template.strip():
        raise ValueError("must not be empty; use \"{customer}\" for the customer number")
    references: list[KeyReference] = []
    for match in PLACEHOLDER.finditer(template):
        name = match.group(1).strip()
        if name == CUSTOMER:
            continue
        ref = REFERENCE.match(name)
        if ref is None:
            raise ValueError(
                f"unknown placeholder {{{match.group(1)}}}: use {{customer}} or {{<adapter id>.<field>}}"
            )
        reference = KeyReference(ref.group("adapter"), ref.group("field"))
        if reference not in references:
            references.append(reference)
    rest = PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError("unbalanced brace; placeholders look like {customer} or {boss.account_id}")
    if not PLACEHOLDER.search(template):
        # A key without a placeholder would ask about the same record for every customer.
        raise ValueError("must contain {customer} or {<adapter id>.<field>}")
    return tuple(references)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One data item: where it is in the response and how sensitive it is."""

    path: str = Field(min_length=1)
    label: str | None = None
    sensitivity: str = Field(default="internal", pattern=r"^[a-z][a-z0-9_]*$")
    mask: str | None = None
    required: bool = False

    @field_validator("mask")
    @classmethod
    def _mask_rule(cls, value: str | None) -> str | None:
        # The same parser the lookup masks with: a rule that loads is a rule that applies.
        if value is not None:
            parse_mask(value)
        return value


class TableSpec(_Strict):
    """A list of records: where the rows are and which columns to keep."""

    path: str = Field(min_length=1)
    columns: dict[str, str] = Field(min_length=1)
    label: str | None = None


class DeepLinkSpec(_Strict):
    url: Template = Field(pattern=r"^https?://")
    sso: Literal["token", "form", "none"] = "none"


class ProbeSpec(_Strict):
    """How the monitor checks the system between lookups (``[probe]`` in the adapter document).

    ``connect`` opens a TCP connection to the system; ``wsdl`` fetches and parses
    the service description (SOAP); ``canary`` runs a real lookup of ``number``, a
    test customer the system knows (or reliably does not know: ``not_found`` is an
    answer too); ``none`` leaves the system to real lookups alone. Without a
    ``kind``: ``canary`` when a number is given, else ``wsdl`` for SOAP, else ``connect``.
    Intervals and thresholds left out take the portal's ``[monitor]`` settings.
    """

    kind: Literal["connect", "wsdl", "canary", "none"] | None = None
    number: str | None = Field(default=None, min_length=1, max_length=64)
    interval_s: float | None = Field(default=None, ge=1, le=3600)
    degraded_ms: int | None = Field(default=None, ge=1, le=600_000)

    @model_validator(mode="after")
    def _canary_needs_number(self) -> ProbeSpec:
        if self.kind == "canary" and not self.number:
            raise ValueError("a canary probe needs the test customer's number: number = \"...\"")
        return self

    def kind_for(self, adapter_kind: str, has_description: bool = True) -> str:
        """The probe to run for an adapter of ``adapter_kind``; ``has_description``: it names a WSDL URL
        (one uploaded as ``wsdl_content`` has none to fetch, so its system is probed by connecting)."""
        if self.kind is not None:
            return self.kind
        if self.number:
            return "canary"
        return "wsdl" if adapter_kind == "soap" and has_description else "connect"


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
    # What this system is asked about: the customer number, or a field another system returned.
    key: str = DEFAULT_KEY
    # Resilience (portal.adapters.resilience). Ints are strict so that `retries = true` is an error.
    retries: int = Field(default=1, ge=0, le=3, strict=True)
    retry_backoff_s: float = Field(default=0.05, ge=0, le=5, strict=True)
    breaker_failures: int = Field(default=5, ge=1, le=1000, strict=True)
    breaker_reset_s: float = Field(default=30.0, gt=0, le=3600, strict=True)
    max_concurrency: int = Field(default=16, ge=1, le=1000, strict=True)
    probe: ProbeSpec = Field(default_factory=ProbeSpec)

    @field_validator("key")
    @classmethod
    def _key_template(cls, value: str) -> str:
        key_references(value)
        return value

    @property
    def key_references(self) -> tuple[KeyReference, ...]:
        """The upstream fields :attr:`key` reads (empty for the plain customer number)."""
        return key_references(self.key)

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
