"""View guards: sign-in and permissions, enforced on the server for pages and API alike."""

from __future__ import annotations

from functools import wraps
from typing import Callable, TypeVar

from flask import redirect, request, url_for

from portal.errors import AuthenticationRequired, PermissionDenied
from portal.rbac.policy import permits
from portal.sso.identity import current_operator

F = TypeVar("F", bound=Callable)


def require(permission: str | None = None) -> Callable[[F], F]:
    """Signed in (browsers are sent to the login page) and, if given, holding ``permission``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args, **kwargs):
            operator = current_operator()
            if operator is None:
                if request.path.startswith("/api/"):
                    raise AuthenticationRequired("sign in or send 'Authorization: Bearer <token>'")
                return redirect(url_for("sso.login", next=request.full_path.rstrip("?")))
            if permission and not permits(operator.permissions, permission):
                raise PermissionDenied(f"your roles do not include the permission {permission!r}")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
