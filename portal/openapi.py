"""The OpenAPI document of the JSON API, served at ``/api/v1/openapi.json``.

The paths are declared here by hand, next to each other so a reader sees the whole API at once;
every request and response body is a pydantic model from the package's ``schemas.py``, and
``components.schemas`` is generated from those models (:func:`portal.schemas.json_schemas`), so the
document cannot drift from what the API validates. ``tests/test_api_schema.py`` runs schemathesis
over every operation for every built-in role against this document.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import Blueprint
from pydantic import BaseModel

from portal import __version__
from portal.accounts.schemas import ImportRefused, ImportReport, ImportUpload
from portal.admin.schemas import Role, RoleChange, RoleCreate, RoleList, User, UserChange, UserCreate, UserList
from portal.audit.schemas import (
    AuditEvent,
    AuditPage,
    Logins,
    LookupStats,
    OperationCounts,
    OutlierList,
    StatsOverview,
    Verification,
)
from portal.catalog.egress_schemas import EgressReport
from portal.catalog.schemas import (
    Adapter,
    AdapterDocument,
    AdapterList,
    AdapterRevision,
    RollbackRequest,
    ShadowReport,
    ShadowRequest,
    TestReport,
    TestRequest,
    Transition,
    VersionList,
)
from portal.lookup.schemas import CustomerView, Revealed, RevealRequest
from portal.monitor.schemas import MonitorOverview, SystemDetail, Window, WindowList, WindowRequest
from portal.rbac.decorators import public
from portal.schemas import Mode, Problem, json_schemas
from portal.sso.schemas import CredentialBody, CredentialEntry, CredentialListing

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

PROBLEM_JSON = "application/problem+json"
#: Every operation needs a signed-in caller (401) and may refuse them (403).
GUARDED = ("401", "403")


@dataclass(frozen=True)
class Ref:
    """A model in the paths, replaced by its ``$ref`` once every model's schema is known."""

    model: type[BaseModel]
    mode: Mode


# -- parameters ----------------------------------------------------------------------------------

def path(name: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}, **extra}


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def number(maximum: int) -> dict[str, Any]:
    # Ids in paths (and the audit cursor) are ASCII digits: anything else is a 422 (a 400 for the cursor).
    return {"type": "integer", "minimum": 1, "maximum": maximum}


# A number is anything without a slash (which no route would match); the lookup says what is malformed (400).
CUSTOMER = path("number", {"type": "string", "pattern": "^[^/]+$"}, example="13800000000")
ADAPTER_ID = path("id", example="boss")
VERSION = path("version", number(1_000_000))
USERNAME = path("username")
ROLE = path("name", example="agent")
WINDOW = path("number", number(2**31 - 1))
TEXT = {"type": "string", "maxLength": 200}
AUDIT_FILTERS = [
    query("actor", "operator username", TEXT), query("action", "exact, or a prefix ending in '*' (auth.*)", TEXT),
    query("customer", "customer number", TEXT), query("system", "back-office system id", TEXT),
    query("outcome", "success, failure, denied, ...", TEXT),
    query("since", "ISO 8601 time (or date), inclusive", {"type": "string", "format": "date-time"}),
    query("until", "ISO 8601 time (or date), exclusive", {"type": "string", "format": "date-time"}),
]
PERIOD = AUDIT_FILTERS[5:]  # statistics: since and until (default: the last 30 days)


# -- operations ----------------------------------------------------------------------------------

def op(summary: str, ok: type[BaseModel] | None = None, *, status: str = "200", body: type[BaseModel] | None = None,
       body_required: bool = True, params: tuple[dict[str, Any], ...] = (), errors: tuple[str, ...] = (),
       problems: dict[str, Any] | None = None, content: dict[str, Any] | None = None,
       operation_id: str | None = None, not_found: bool = True) -> dict[str, Any]:
    """One operation: ``ok`` is the success body (``None``: no body, e.g. 204), ``errors`` the problem statuses.

    Every operation may answer 401 and 403; one with path parameters 404 (nothing by that name, or no
    route for it; ``not_found=False`` where the parameter's pattern rules that out); one with a body
    422 (the body names the bad key); and every unsafe one 400 (:func:`with_csrf_refusals`).
    """
    codes = set(GUARDED) | set(errors)
    if not_found and any(p["in"] == "path" for p in params):
        codes.add("404")
    if body is not None:
        codes.add("422")
    success: dict[str, Any] = {"description": "Success"}
    if content is not None:
        success["content"] = content
    elif ok is not None:
        success["content"] = {"application/json": {"schema": Ref(ok, "serialization")}}
    responses = {status: success}
    for code in sorted(codes):
        responses[code] = (problems or {}).get(code) or problem_response()
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if operation_id:
        operation["operationId"] = operation_id
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = {"required": body_required,
                                    "content": {"application/json": {"schema": Ref(body, "validation")}}}
    return operation


def problem_response(schema: Any = None) -> dict[str, Any]:
    return {"description": "A problem (RFC 9457)",
            "content": {PROBLEM_JSON: {"schema": schema or Ref(Problem, "serialization")}}}


EXPORT = {media: {"schema": {"type": "string"}} for media in ("text/csv", "application/x-ndjson")}
IMPORT_REFUSED = problem_response({"anyOf": [Ref(ImportRefused, "serialization"), Ref(Problem, "serialization")]})

PATHS: dict[str, dict[str, Any]] = {
    "/customers/{number}": {
        "get": op("Look one customer up in every system the caller may see", CustomerView,
                  params=(CUSTOMER,), errors=("400",), operation_id="getCustomer", not_found=False),
    },
    "/customers/{number}/reveal": {
        "post": op("Reveal one masked value (audited)", Revealed, body=RevealRequest,
                   params=(CUSTOMER,), errors=("502",)),
    },
    "/adapters": {
        "get": op("List adapters", AdapterList),
        "post": op("Register an adapter (a draft version)", Adapter, status="201", body=AdapterDocument,
                   errors=("409",)),
    },
    "/adapters/{id}": {
        "get": op("One adapter and its document", Adapter, params=(ADAPTER_ID,)),
        "put": op("Replace an adapter's document (a new draft version)", Adapter, body=AdapterRevision,
                  params=(ADAPTER_ID,), errors=("409",)),
        "delete": op("Delete an adapter (its history stays)", status="204", params=(ADAPTER_ID,), errors=("409",)),
    },
    "/adapters/{id}/versions": {"get": op("Version history", VersionList, params=(ADAPTER_ID,))},
    "/adapters/{id}/test": {
        "post": op("Run one version of an adapter for one number, masked for the tester; the raw answer for "
                   "adapters.raw only (audited). ?number= instead of a body is kept for curl users.", TestReport,
                   body=TestRequest, body_required=False,
                   params=(ADAPTER_ID, query("number", "the customer number, when no body is sent",
                                             {"type": "string", "minLength": 1, "maxLength": 40})),
                   errors=("409", "422")),
    },
    "/adapters/{id}/versions/{version}/approve": {
        "post": op("Approve a draft version (adapters.approve; not its author under the four-eyes rule)",
                   Transition, params=(ADAPTER_ID, VERSION), errors=("409", "422")),
    },
    "/adapters/{id}/versions/{version}/promote": {
        "post": op("Make an approved version the live one (owners, admins)", Transition,
                   params=(ADAPTER_ID, VERSION), errors=("409", "422")),
    },
    "/adapters/{id}/versions/{version}/retire": {
        "post": op("Retire a version; the live one takes the system out of agents' view", Transition,
                   params=(ADAPTER_ID, VERSION), errors=("409", "422")),
    },
    "/adapters/{id}/rollback": {
        "post": op("Make the previous (or a named) approved version live again", Transition,
                   body=RollbackRequest, body_required=False, params=(ADAPTER_ID,), errors=("409",)),
    },
    "/adapters/{id}/shadow": {
        "get": op("How the shadow candidate agreed with the live version over the last lookups", ShadowReport,
                  params=(ADAPTER_ID, query("version", "the candidate (default: the current one)", number(1_000_000)),
                          query("window", "how many recent comparisons (default 200)", number(10_000))),
                  errors=("422",)),
        "put": op("Run a candidate version in shadow beside the live one", Transition, body=ShadowRequest,
                  params=(ADAPTER_ID,), errors=("409",)),
        "delete": op("Stop the shadow run", Transition, params=(ADAPTER_ID,), errors=("409",)),
    },
    "/users": {
        "get": op("List operators", UserList),
        "post": op("Create an operator", User, status="201", body=UserCreate, errors=("409",)),
    },
    "/users/{username}": {
        "get": op("One operator", User, params=(USERNAME,)),
        "patch": op("Change an operator (or reset the password)", User, body=UserChange, params=(USERNAME,),
                    errors=("409",)),
        "delete": op("Delete an operator", status="204", params=(USERNAME,), errors=("409",)),
    },
    "/users/{username}/sessions": {
        "delete": op("End all sessions of an operator", status="204", params=(USERNAME,)),
    },
    "/users/import": {
        "post": {**op("Bulk import operators from a legacy CSV (a dry run unless apply=true)", ImportReport,
                      errors=("422",), problems={"422": IMPORT_REFUSED}),
                 "requestBody": {"required": True, "content": {"multipart/form-data": {
                     "schema": Ref(ImportUpload, "validation"),
                     "encoding": {"file": {"contentType": "text/csv, application/octet-stream"}}}}}},
    },
    "/roles": {
        "get": op("List roles", RoleList),
        "post": op("Create a role", Role, status="201", body=RoleCreate, errors=("409",)),
    },
    "/roles/{name}": {
        "get": op("One role", Role, params=(ROLE,)),
        "put": op("Replace a role", Role, body=RoleChange, params=(ROLE,), errors=("409",)),
        "delete": op("Delete a role nobody holds", status="204", params=(ROLE,), errors=("409",)),
    },
    "/audit": {
        "get": op("The operation log, newest first, filtered, one keyset page at a time", AuditPage,
                  params=(*AUDIT_FILTERS, query("limit", "1-500, default 50", {"type": "integer", "minimum": 1,
                                                                                 "maximum": 500}),
                          query("cursor", "next_cursor of the previous page", number(2**63 - 1))),
                  errors=("400",)),
    },
    "/audit/{number}": {
        "get": op("One audit event by its sequence number", AuditEvent, params=(path("number", number(2**63 - 1)),),
                  errors=("422",)),
    },
    "/audit/verify": {
        "get": op("Verify the hash chain; names each modified, deleted, inserted or reordered event (audited)",
                  Verification, params=(query("from", "anchor (the whole chain, the default) or checkpoint",
                                              {"enum": ["anchor", "checkpoint"]}),), errors=("400",)),
    },
    "/audit/export": {
        "get": op("Stream matching events as CSV or JSON Lines, oldest first (audited)", content=EXPORT,
                  params=(query("format", "jsonl (the default) or csv", {"enum": ["csv", "jsonl"]}),
                          *AUDIT_FILTERS), errors=("400",)),
    },
    "/stats": {"get": op("All statistics of a period (since, until; default the last 30 days)", StatsOverview,
                         params=tuple(PERIOD), errors=("400",))},
    "/stats/operations": {
        "get": op("Operation counts by actor, action, system, day, hour or outcome", OperationCounts,
                  params=(*PERIOD, query("by", "what to count by (default actor)",
                                         {"enum": ["actor", "action", "system", "day", "hour", "outcome"]})),
                  errors=("400",)),
    },
    "/stats/logins": {"get": op("Sign-ins and failed sign-ins by day, username and address", Logins,
                                params=tuple(PERIOD), errors=("400",))},
    "/stats/lookups": {"get": op("Lookup outcomes and latency per system", LookupStats, params=tuple(PERIOD),
                                 errors=("400",))},
    "/stats/outliers": {"get": op("Operators standing far out from their peers, with the reasons", OutlierList,
                                  params=tuple(PERIOD), errors=("400",))},
    "/monitor": {
        "get": op("Every system's state (most serious first), this instance's circuit breaker, last-hour latency "
                  "percentiles and error rate; the portal's own health (database, Redis, lookup workers, monitor "
                  "process)", MonitorOverview),
    },
    "/monitor/systems/{id}": {
        "get": op("One system: state, recent observations and errors, state history, alerts sent, maintenance "
                  "windows", SystemDetail, params=(path("id", example="boss"),)),
    },
    "/monitor/maintenance": {
        "get": op("Current and upcoming maintenance windows, soonest first", WindowList,
                  params=(query("system", "one system's windows (and those for every system, '*')", TEXT),
                          query("past", "true: ended and cancelled windows too, newest first",
                                {"type": "boolean"}))),
        "post": op("Open a maintenance window: alerts about the system are silenced inside it (monitor.manage, "
                   "or adapters.own for your teams' systems; audited)", Window, status="201", body=WindowRequest),
    },
    "/monitor/maintenance/{number}": {
        "get": op("One maintenance window by its number", Window, params=(WINDOW,), errors=("422",)),
        "delete": op("End a current window now, or drop an upcoming one (audited)", status="204", params=(WINDOW,),
                     errors=("409", "422")),
    },
    "/sso/credentials": {
        "get": op("Stored system credentials the caller may manage (never the secrets)", CredentialListing),
    },
    "/sso/credentials/{system}/{operator}": {
        "put": op("Store the login at a system for an operator (or * for its service account); audited",
                  CredentialEntry, body=CredentialBody,
                  params=(path("system", example="complaints"), path("operator", example="*"))),
        "delete": op("Remove stored credentials (audited)", status="204",
                     params=(path("system", example="complaints"), path("operator", example="*"))),
    },
    "/egress": {
        "get": op("The egress policy in force: where adapters may connect, what is always refused, the portal's "
                  "own addresses (adapters.manage)", EgressReport),
    },
}


def with_csrf_refusals(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``paths`` where every operation may answer 400: a browser session's write without its CSRF token, or
    any request whose query or form carries a NUL character (``portal.web``)."""
    def refusing(operation: dict[str, Any]) -> dict[str, Any]:
        return {**operation, "responses": {"400": problem_response(), **operation["responses"]}}

    return {path: {method: refusing(operation) for method, operation in operations.items()}
            for path, operations in paths.items()}


def resolve(node: Any, refs: dict[tuple[type[BaseModel], Mode], dict[str, Any]]) -> Any:
    """``node`` with every :class:`Ref` replaced by its ``$ref``."""
    if isinstance(node, Ref):
        return refs[(node.model, node.mode)]
    if isinstance(node, dict):
        return {key: resolve(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, refs) for value in node]
    return node


def models_in(node: Any) -> list[Ref]:
    if isinstance(node, Ref):
        return [node]
    if isinstance(node, dict):
        return [ref for value in node.values() for ref in models_in(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in models_in(value)]
    return []


@cache
def document() -> dict[str, Any]:
    """The whole document, built once per process."""
    refs, schemas = json_schemas((ref.model, ref.mode) for ref in models_in(PATHS))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Service-desk portal API", "version": __version__},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": resolve(with_csrf_refusals(PATHS), refs),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A personal API token (`portal users token`)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "portal_session"},
            },
            "schemas": schemas,
        },
    }


@bp.get("/openapi.json")
@public("the API description, for clients before they sign in")
def openapi_document():
    return document()


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
