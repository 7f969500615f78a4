"""The OpenAPI document of the JSON API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint

from portal import __version__

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

_PROBLEM = {"description": "A problem (RFC 9457)",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Service-desk portal API", "version": __version__},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}, {"session": []}],
    "paths": {
        "/customers/{number}": {
            "get": {
                "summary": "Look one customer up in every system the caller may see",
                "operationId": "getCustomer",
                "parameters": [{"name": "number", "in": "path", "required": True,
                                "schema": {"type": "string"}, "example": "13800000000"}],
                "responses": {
                    "200": {"description": "The combined view",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerView"}}}},
                    "400": _PROBLEM, "401": _PROBLEM, "403": _PROBLEM,
                },
            }
        }
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A personal API token (`portal users token`)"},
            "session": {"type": "apiKey", "in": "cookie", "name": "portal_session"},
        },
        "schemas": {
            "Problem": {"type": "object", "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "code": {"type": "string"}, "instance": {"type": "string"}}},
            "SystemResult": {"type": "object", "required": ["system_id", "status", "fields", "tables", "elapsed_ms"],
                             "properties": {
                "system_id": {"type": "string"},
                "status": {"type": "string", "enum": ["ok", "not_found", "error", "timeout", "unavailable"]},
                "fields": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                "tables": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "object"}}},
                "elapsed_ms": {"type": "integer"},
                "error": {"type": ["string", "null"]},
                "name": {"type": "string"}, "kind": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "table_labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "masked": {"type": "array", "items": {"type": "string"}},
                "deep_link": {"type": ["string", "null"], "description": "The audited quick channel"}}},
            "CustomerView": {"type": "object", "required": ["customer", "elapsed_ms", "systems"], "properties": {
                "customer": {"type": "string"}, "elapsed_ms": {"type": "integer"},
                "correlation_id": {"type": "string"},
                "systems": {"type": "array", "items": {"$ref": "#/components/schemas/SystemResult"}}}},
        },
    },
}


@bp.get("/openapi.json")
def openapi_document():
    return DOCUMENT


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
