"""Who is asking: the operator behind the session cookie or the ``Authorization: Bearer`` token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import g, request, session

from portal.accounts.models import User
from portal.accounts.service import Operator, user_for_token
from portal.audit.record import ANONYMOUS, Actor
from portal.db import get_session
from portal.errors import AuthenticationRequired

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

SESSION_USER_KEY = "uid"
SESSION_EPOCH_KEY = "epoch"


def init_app(app: Flask) -> None:
    app.before_request(load_operator)
    app.context_processor(lambda: {"operator": g.get("operator")})


def load_operator() -> None:
    """Resolve the caller once per request; a bad token is an error, not anonymity."""
    g.operator = None
    g.auth_method = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationRequired("use 'Authorization: Bearer <token>'")
        user = user_for_token(get_session(), token.strip())
        if user is None:
            raise AuthenticationRequired("the API token is unknown, revoked or its user disabled")
        get_session().commit()  # keeps last_used_at
        g.operator, g.auth_method = Operator.of(user), "token"
        return
    user_id = session.get(SESSION_USER_KEY)
    if user_id is None:
        return
    user = get_session().get(User, user_id)
    if user is None or not user.enabled or session.get(SESSION_EPOCH_KEY) != user.session_epoch:
        session.clear()  # removed, disabled, or an admin ended this operator's sessions: the record goes
        return
    g.operator, g.auth_method = Operator.of(user), "session"


def current_operator() -> Operator | None:
    return g.get("operator")


def client_addr() -> str | None:
    return request.remote_addr


def current_actor() -> Actor:
    operator = current_operator()
    if operator is None:
        return Actor(username=ANONYMOUS.username, client_addr=client_addr())
    return Actor(username=operator.username, roles=operator.roles, client_addr=client_addr())


def start_session(user: User, method: str = "password") -> None:
    """A fresh session for a fresh login: a new id, no state carried over from before."""
    session.clear()
    _regenerate()
    session.permanent = True
    session[SESSION_USER_KEY] = user.id
    session[SESSION_EPOCH_KEY] = user.session_epoch
    session["auth_method"] = method


def end_session() -> None:
    """The session ends on the server (its hand-offs with it) and the browser gets a new id next time."""
    session.clear()
    _regenerate()


def session_handle() -> str | None:
    """The store's name for the current session (what hand-off tokens carry as ``sid``)."""
    return getattr(session, "handle", None)


def _regenerate() -> None:
    regenerate = getattr(session, "regenerate", None)
    if regenerate is not None:
        regenerate()
