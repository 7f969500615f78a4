"""The OpenAPI document of the JSON API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint

from portal import __version__
from portal.catalog.schemas import SCHEMAS as CATALOG_SCHEMAS
from portal.rbac.decorators import public

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

_PROBLEM = {"description": "A problem (RFC 9457)",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}

def _op(summary: str, ok: str = "200", body: str | None = None, params: tuple[str, ...] = (),
        errors: tuple[str, ...] = ("401", "403")) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params],
        "responses": {ok: {"description": "Success"}, **{code: _PROBLEM for code in errors}},
    }
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": body}}}}
    return operation


_ADAPTER = "#/components/schemas/AdapterDocument"


def _schema(name: str) -> str:
    return f"#/components/schemas/{name}"
_USER = "#/components/schemas/User"
_ROLE = "#/components/schemas/Role"
_WINDOW = "#/components/schemas/MaintenanceWindow"
_AUDIT_FILTERS = [
    ("actor", "operator username"), ("action", "exact, or a prefix ending in '*' (auth.*)"),
    ("customer", "customer number"), ("system", "back-office system id"), ("outcome", "success, failure, denied, ..."),
    ("since", "ISO 8601 time, inclusive"), ("until", "ISO 8601 time, exclusive"),
    ("limit", "1-500, default 50"), ("cursor", "next_cursor of the previous page"),
]

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
        },
        "/customers/{number}/reveal": {"post": _op("Reveal one masked value (audited)", params=("number",),
                                                   errors=("401", "403", "404", "502"))},
        "/adapters": {"get": _op("List adapters"), "post": _op("Register an adapter", "201", _ADAPTER,
                                                               errors=("401", "403", "409", "422"))},
        "/adapters/{id}": {
            "get": _op("One adapter and its document", params=("id",), errors=("401", "403", "404")),
            "put": _op("Replace an adapter's document (a new version)", body=_ADAPTER, params=("id",),
                       errors=("401", "403", "404", "409", "422")),
            "delete": _op("Delete an adapter (its history stays)", "204", params=("id",),
                          errors=("401", "403", "404", "409")),
        },
        "/adapters/{id}/versions": {"get": _op("Version history", params=("id",), errors=("401", "403", "404"))},
        "/adapters/{id}/test": {"post": _op("Run one version of an adapter for one number, masked for the tester; "
                                            "the raw answer for adapters.raw only (audited)",
                                            body=_schema("TestRequest"), params=("id",),
                                            errors=("400", "401", "403", "404", "409", "422"))},
        "/adapters/{id}/versions/{version}/approve": {"post": _op(
            "Approve a draft version (adapters.approve; not its author under the four-eyes rule)",
            params=("id", "version"), errors=("401", "403", "404", "409", "422"))},
        "/adapters/{id}/versions/{version}/promote": {"post": _op(
            "Make an approved version the live one (owners, admins)", params=("id", "version"),
            errors=("401", "403", "404", "409", "422"))},
        "/adapters/{id}/versions/{version}/retire": {"post": _op(
            "Retire a version; the live one takes the system out of agents' view", params=("id", "version"),
            errors=("401", "403", "404", "409", "422"))},
        "/adapters/{id}/rollback": {"post": _op(
            "Make the previous (or a named) approved version live again", params=("id",),
            body=_schema("RollbackRequest"), errors=("401", "403", "404", "409", "422"))},
        "/adapters/{id}/shadow": {
            "get": _op("How the shadow candidate agreed with the live version over the last lookups",
                       params=("id",), errors=("401", "403", "404", "422")),
            "put": _op("Run a candidate version in shadow beside the live one", params=("id",),
                       body=_schema("ShadowRequest"), errors=("401", "403", "404", "409", "422")),
            "delete": _op("Stop the shadow run", params=("id",), errors=("401", "403", "404")),
        },
        "/users": {"get": _op("List operators"), "post": _op("Create an operator", "201", _USER,
                                                             errors=("401", "403", "409", "422"))},
        "/users/{username}": {
            "get": _op("One operator", params=("username",), errors=("401", "403", "404")),
            "patch": _op("Change an operator (or reset the password)", body=_USER, params=("username",),
                         errors=("401", "403", "404", "409", "422")),
            "delete": _op("Delete an operator", "204", params=("username",), errors=("401", "403", "404", "409")),
        },
        "/users/{username}/sessions": {"delete": _op("End all sessions of an operator", "204",
                                                     params=("username",), errors=("401", "403", "404"))},
        "/users/import": {"post": _op("Bulk import operators from a legacy CSV (dry run unless apply=true)",
                                      errors=("401", "403", "422"))},
        "/roles": {"get": _op("List roles"), "post": _op("Create a role", "201", _ROLE,
                                                         errors=("401", "403", "409", "422"))},
        "/roles/{name}": {
            "get": _op("One role", params=("name",), errors=("401", "403", "404")),
            "put": _op("Replace a role", body=_ROLE, params=("name",), errors=("401", "403", "404", "409", "422")),
            "delete": _op("Delete a role nobody holds", "204", params=("name",), errors=("401", "403", "404", "409")),
        },
        "/audit": {"get": {**_op("The operation log, newest first, filtered, one keyset page at a time",
                                 errors=("400", "401", "403")),
                             "parameters": [{"name": n, "in": "query", "required": False, "schema": {"type": "string"},
                                             "description": d} for n, d in _AUDIT_FILTERS]}},
        "/audit/{number}": {"get": _op("One audit event by its sequence number", params=("number",),
                                       errors=("401", "403", "404"))},
        "/audit/verify": {"get": _op("Verify the hash chain; names each modified, deleted, inserted or reordered "
                                     "event (audited)")},
        "/audit/export": {"get": {**_op("Stream matching events as CSV or JSON Lines, oldest first (audited)",
                                        errors=("400", "401", "403")),
                                  "parameters": [{"name": "format", "in": "query", "schema": {"enum": ["csv", "jsonl"]}}]
                                  + [{"name": n, "in": "query", "required": False, "schema": {"type": "string"},
                                      "description": d} for n, d in _AUDIT_FILTERS[:7]]}},
        "/stats": {"get": _op("All statistics of a period (since, until; default the last 30 days)",
                              errors=("400", "401", "403"))},
        "/stats/operations": {"get": _op("Operation counts by actor, action, system, day, hour or outcome (?by=)",
                                         errors=("400", "401", "403"))},
        "/stats/logins": {"get": _op("Sign-ins and failed sign-ins by day, username and address",
                                     errors=("400", "401", "403"))},
        "/stats/lookups": {"get": _op("Lookup outcomes and latency per system", errors=("400", "401", "403"))},
        "/stats/outliers": {"get": _op("Operators standing far out from their peers, with the reasons",
                                       errors=("400", "401", "403"))},
        "/monitor": {"get": _op("Every system's state (most serious first), this instance's circuit breaker, "
                                "last-hour latency percentiles and error rate; the portal's own health "
                                "(database, Redis, lookup workers, monitor process)")},
        "/monitor/systems/{id}": {"get": _op("One system: state, recent observations and errors, state history, "
                                             "alerts sent, maintenance windows", params=("id",),
                                             errors=("401", "403", "404"))},
        "/monitor/maintenance": {
            "get": {**_op("Current and upcoming maintenance windows, soonest first"),
                    "parameters": [{"name": "system", "in": "query", "required": False, "schema": {"type": "string"},
                                    "description": "one system's windows (and those for every system, '*')"},
                                   {"name": "past", "in": "query", "required": False, "schema": {"type": "boolean"},
                                    "description": "true: ended and cancelled windows too, newest first"}]},
            "post": _op("Open a maintenance window: alerts about the system are silenced inside it (monitor.manage, "
                        "or adapters.own for your teams' systems; audited)", "201", _WINDOW,
                        errors=("400", "401", "403", "422")),
        },
        "/monitor/maintenance/{number}": {
            "get": _op("One maintenance window by its number", params=("number",), errors=("401", "403", "404")),
            "delete": _op("End a current window now, or drop an upcoming one (audited)", "204", params=("number",),
                          errors=("401", "403", "404", "409")),
        },
        "/sso/credentials": {"get": _op("Stored system credentials the caller may manage (never the secrets)")},
        "/sso/credentials/{system}/{operator}": {
            "put": _op("Store the login at a system for an operator (or * for its service account); audited",
                       body="#/components/schemas/Credential", params=("system", "operator"),
                       errors=("401", "403", "404", "422")),
            "delete": _op("Remove stored credentials (audited)", "204", params=("system", "operator"),
                          errors=("401", "403", "404")),
        },
        "/egress": {"get": _op("The egress policy in force: where adapters may connect, what is always refused, "
                               "the portal's own addresses (adapters.manage)")},
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
            **{model.__name__: model.model_json_schema(ref_template="#/components/schemas/{model}")
               for model in CATALOG_SCHEMAS},
            "AdapterDocument": {"type": "object", "description": "The adapter TOML document as JSON (docs/adapters.md)",
                                "required": ["id", "name", "kind"], "additionalProperties": True},
            "User": {"type": "object", "properties": {
                "username": {"type": "string"}, "display_name": {"type": "string"}, "email": {"type": "string"},
                "phone": {"type": "string"}, "region": {"type": "string"}, "enabled": {"type": "boolean"},
                "roles": {"type": "array", "items": {"type": "string"}},
                "teams": {"type": "array", "items": {"type": "string"}}, "password": {"type": "string"}}},
            "Role": {"type": "object", "properties": {
                "name": {"type": "string"}, "description": {"type": "string"},
                "permissions": {"type": "array", "items": {"type": "string"}},
                "field_grants": {"type": "object", "additionalProperties": {"enum": ["show", "mask", "hide"]}},
                "content_rules": {"type": "array", "items": {"type": "object"}}}},
            "Credential": {"type": "object", "required": ["login_username", "password"], "properties": {
                "login_username": {"type": "string", "maxLength": 200},
                "password": {"type": "string", "maxLength": 1024, "writeOnly": True}}},
            "MaintenanceWindow": {"type": "object", "required": ["system_id", "ends_at", "reason"], "properties": {
                "system_id": {"type": "string", "description": "a system id, or '*' for every system"},
                "starts_at": {"type": ["string", "null"], "format": "date-time", "description": "default: now"},
                "ends_at": {"type": "string", "format": "date-time", "description": "at most 7 days after the start"},
                "reason": {"type": "string", "maxLength": 300},
                "id": {"type": "integer", "readOnly": True}, "created_by": {"type": "string", "readOnly": True},
                "status": {"enum": ["current", "upcoming", "ended", "cancelled"], "readOnly": True}}},
            "CustomerView": {"type": "object", "required": ["customer", "elapsed_ms", "systems"], "properties": {
                "customer": {"type": "string"}, "elapsed_ms": {"type": "integer"},
                "correlation_id": {"type": "string"},
                "systems": {"type": "array", "items": {"$ref": "#/components/schemas/SystemResult"}}}},
        },
    },
}


@bp.get("/openapi.json")
@public("the API description, for clients before they sign in")
def openapi_document():
    return DOCUMENT


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
