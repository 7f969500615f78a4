"""What every API model shares: the two base classes, the problem document, and their OpenAPI components.

Each package keeps the request and response bodies of its ``/api/v1`` endpoints in its own
``schemas.py`` (``portal/lookup/schemas.py``, ...); :mod:`portal.openapi` collects them into the
document's ``components.schemas``. Requests are validated by these models at the edge
(:func:`portal.web.json_body`); responses are built by the engine's ``to_dict`` methods and checked
against these models by the tests and the schemathesis run, so a drift between the two fails CI
instead of surprising a client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, WithJsonSchema
from pydantic.json_schema import models_json_schema

#: Where components live in the OpenAPI document; ``{model}`` is the model's name.
REF_TEMPLATE = "#/components/schemas/{model}"


#: A moment as the API writes it (ISO 8601 in UTC); the engine's documents carry it as text already.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class RequestBody(BaseModel):
    """A JSON request body: an unknown key or a value of the wrong type is a 422 naming the key.

    ``strict``: ``"5"`` is not the number 5 and ``1`` is not ``true`` — a client sending the wrong
    type has a bug we should tell it about, not paper over.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseBody(BaseModel):
    """A JSON response body: every key the API sends is declared (``additionalProperties: false``)."""

    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An RFC 9457 problem document (:func:`portal.errors.problem`); 422s add ``key`` and ``reason``."""

    model_config = ConfigDict(extra="allow")  # e.g. the import report rides along a refused import

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    key: str | None = None
    reason: str | None = None


Mode = Literal["validation", "serialization"]
Refs = dict[tuple[type[BaseModel], Mode], dict[str, Any]]


def json_schemas(models: Iterable[tuple[type[BaseModel], Mode]]) -> tuple[Refs, dict[str, Any]]:
    """``(refs, components.schemas)`` for these models: requests as sent (``validation``), responses as
    they arrive (``serialization``).

    One call for all models, so a model nested in several (``SystemResult``) is defined once and
    referenced everywhere; pydantic suffixes a name (``-Input``/``-Output``) only where the two
    modes really differ, which is why callers take each ``$ref`` from ``refs`` instead of guessing it.
    """
    refs, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF_TEMPLATE)
    return cast(Refs, refs), dict(top.get("$defs", {}))
