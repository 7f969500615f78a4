"""Presentation plumbing shared by every page: CSRF, security headers, template helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app, g, jsonify, request
from flask_wtf.csrf import CSRFProtect
from pydantic import BaseModel, ValidationError

from portal.errors import AuthenticationRequired, InvalidDocument, RequestError
from portal.rbac.policy import permits
from portal.sso.identity import current_operator

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask, Response

    from portal.accounts.service import Operator

csrf = CSRFProtect()

# No inline scripts or styles anywhere, so the policy can be strict.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def init_app(app: Flask) -> None:
    # CSRF is checked by our own hook so that bearer-token API calls can skip it.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(_refuse_nul)
    app.before_request(_check_csrf)
    app.after_request(_security_headers)
    app.jinja_env.globals["can"] = _can


def _refuse_nul() -> None:
    """A NUL character is never text people typed, and PostgreSQL cannot store one: refused at the border
    (a 400 naming the query or form field, a 422 for a JSON body), not a 500 from the database."""
    sources = [request.args] if request.mimetype == "application/json" else [request.args, request.form]
    for source in sources:  # uploaded files are read by their own parsers (a UTF-16 CSV holds NUL bytes)
        for key, value in source.items(multi=True):
            if "\x00" in key or "\x00" in value:
                # 400 like every other bad query or form value; a body's bad key is the 422 below.
                name = key.replace("\x00", "\\0")
                raise RequestError(f"{name}: must not contain NUL characters")
    if request.mimetype == "application/json" and b"\\u0000" in request.get_data().lower():
        raise InvalidDocument(None, "the JSON body must not contain NUL characters (\\u0000)")


def _check_csrf() -> None:
    # Browsers never attach a bearer token on their own, so such a request cannot be forged
    # cross-site; everything else (cookie sessions) must carry the CSRF token.
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect(apply_exemptions=True)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith(("/customers", "/api/")):
        # Customer data must not linger in shared caches or the browser's history cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def _can(permission: str) -> bool:
    operator = g.get("operator")
    return operator is not None and permits(operator.permissions, permission)


def signed_in() -> Operator:
    """The operator of this request, for routes behind ``require()``.

    ``require`` has refused anonymous callers already; this says so to the type checker (and to a
    route that forgot its guard), where ``current_operator()`` may be ``None``.
    """
    operator = current_operator()
    if operator is None:
        raise AuthenticationRequired("sign in or send 'Authorization: Bearer <token>'")
    return operator


def json_object() -> dict:
    """The request's JSON body, which every write endpoint expects to be one object."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidDocument(None, "send a JSON object (Content-Type: application/json)")
    return data


Body = TypeVar("Body", bound=BaseModel)


def path_number(text: str, key: str, maximum: int = 10**18) -> int:
    """A positive number from a URL path, in ASCII digits, else a 422 naming ``key``.

    ``"²".isdigit()`` is true and ``int("²")`` fails, so ``isdigit`` alone is not a check.
    """
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= maximum:
        raise InvalidDocument(key, f"expected a number from 1 to {maximum}, got {text[:20]!r}")
    return int(text)


def json_body(model: type[Body], *, optional: bool = False) -> Body:
    """The request's JSON body validated by ``model``; a 422 problem names the first bad field.

    ``optional``: an empty body is the model's defaults (e.g. ``POST .../rollback`` with no target).
    """
    data = request.get_json(silent=True)
    if data is None and optional and not request.get_data():
        data = {}
    if not isinstance(data, dict):
        raise InvalidDocument(None, "send a JSON object (Content-Type: application/json)")
    return validated(model, data)


def validated(model: type[Body], data: dict[str, Any]) -> Body:
    """``data`` (a body, or values from the query string) checked by ``model``; a 422 names the first bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise InvalidDocument(error_key(first["loc"]), reason) from exc


def error_key(loc: tuple[int | str, ...]) -> str | None:
    """``("permissions", 0)`` -> ``permissions[0]``: the engine's way of naming a key (``fields.x.path``)."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key or None


def created(body: dict, location: str) -> Response:
    """``201 Created`` with the new resource and where it lives."""
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response
