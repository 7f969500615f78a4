"""View guards: every route says who may reach it, enforced on the server for pages and API alike.

A route is either :func:`public` (with the reason) or guarded by :func:`require`:
signed in, and holding a registered permission when one is named (``require()``
alone means "signed in; the engine service decides", e.g. owners of one
adapter). The decision is kept on the view as ``portal_access`` so that a test
walks the URL map and fails for any route without one (deny by default).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import redirect, request, url_for

from portal.errors import AuthenticationRequired, PermissionDenied
from portal.rbac import permissions
from portal.rbac.policy import permits
from portal.sso.identity import current_operator

F = TypeVar("F", bound=Callable[..., Any])

#: ``portal_access`` values: ("public", reason), ("signed_in", None), ("permission", name).
ACCESS_ATTRIBUTE = "portal_access"


def require(permission: str | None = None) -> Callable[[F], F]:
    """Signed in (browsers are sent to the login page) and, if given, holding ``permission``."""
    if permission is not None and not permissions.is_known(permission):
        raise ValueError(f"unknown permission {permission!r}: add it to portal/rbac/permissions.py")

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            operator = current_operator()
            if operator is None:
                if request.path.startswith("/api/"):
                    raise AuthenticationRequired("sign in or send 'Authorization: Bearer <token>'")
                return redirect(url_for("sso.login", next=request.full_path.rstrip("?")))
            if permission and not permits(operator.permissions, permission):
                raise PermissionDenied(f"your roles do not include the permission {permission!r}")
            return view(*args, **kwargs)

        setattr(guarded, ACCESS_ATTRIBUTE, ("permission", permission) if permission else ("signed_in", None))
        return cast(F, guarded)

    return decorate


def public(reason: str) -> Callable[[F], F]:
    """Mark a route as reachable without signing in, saying why (the URL-map test reads it)."""
    if not reason.strip():
        raise ValueError("say why the route is public")

    def decorate(view: F) -> F:
        setattr(view, ACCESS_ATTRIBUTE, ("public", reason))
        return view

    return decorate


def access_of(view: Callable[..., Any]) -> tuple[str, str | None] | None:
    """The access decision of a view function, ``None`` when it has none."""
    return getattr(view, ACCESS_ATTRIBUTE, None)
