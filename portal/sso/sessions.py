"""Server-side sessions: the cookie carries a random id, everything else stays on the server.

A Flask :class:`~flask.sessions.SessionInterface` over a shared store
(:mod:`portal.sso.stores`: database or Redis). Each session ends after
``session_idle_minutes`` without a request or ``session_absolute_hours`` after
sign-in, whichever comes first; an ended session is deleted, its operator gets a
fresh anonymous session with a notice, and ``auth.timeout`` is audited. The id is
replaced at sign-in and sign-out (:meth:`ServerSession.regenerate`), so an id
planted before sign-in is worthless after it. Revocation is deleting the record:
logout, or an admin ending every session of an operator (which also bumps the
operator's ``session_epoch``, checked by :mod:`portal.sso.identity`).

Requests flagged with ``g.session_no_touch`` (the idle-warning script's status
poll) read the session without extending it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import TYPE_CHECKING, Any

from flask import g
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from portal import clock
from portal.sso.stores import SessionRecord, SessionStore

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask, Request, Response

log = logging.getLogger(__name__)

USER_KEY = "uid"
TOUCH_EVERY_S = 1.0  # an unchanged session is written back at most this often
PURGE_ONE_IN = 200  # about one new session in this many sweeps out the ended ones


def handle_of(sid: str) -> str:
    """What the store keeps instead of the cookie value."""
    return hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None,
                 record: SessionRecord | None = None) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.record = record
        self.modified = False
        self.regenerate_requested = False

    @property
    def handle(self) -> str | None:
        return handle_of(self.sid) if self.sid else None

    def regenerate(self) -> None:
        """Give this session a new id when the response is sent; the old one ends."""
        self.regenerate_requested = True
        self.modified = True


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: SessionStore, idle_s: float, absolute_s: float) -> None:
        self.store = store
        self.idle_s = idle_s
        self.absolute_s = absolute_s

    def expiry_of(self, record: SessionRecord) -> float:
        return min(record.last_seen + self.idle_s, record.created_at + self.absolute_s)

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 128:
            return ServerSession()
        record = self.store.load(handle_of(sid))
        if record is None:
            return ServerSession()
        now = clock.now()
        if now >= self.expiry_of(record):
            self.store.delete(record.handle)
            if record.user_id is not None:
                reason = "absolute" if now >= record.created_at + self.absolute_s else "idle"
                _audit_timeout(app, record, reason, request.remote_addr)
                fresh = ServerSession({"_flashes": [("info", "Your session has ended; please sign in again.")]})
                fresh.modified = True
                return fresh
            return ServerSession()
        return ServerSession(record.data, sid, record)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if session.regenerate_requested and session.sid:
            self.store.delete(session.handle or "")
            session.sid, session.record = None, None
        if not session:
            if session.sid:  # cleared: the session ends
                self.store.delete(session.handle or "")
            if session.sid or session.regenerate_requested or request_had_cookie(name):
                response.delete_cookie(name, domain=domain, path=path)
            return
        now = clock.now()
        record = session.record
        if record is not None and not session.modified:
            if g.get("session_no_touch") or now - record.last_seen < TOUCH_EVERY_S:
                return
        if session.sid is None:
            session.sid = secrets.token_urlsafe(32)
            record = SessionRecord(handle_of(session.sid), None, created_at=now)
            purge = getattr(self.store, "purge_expired", None)
            if purge is not None and secrets.randbelow(PURGE_ONE_IN) == 0:
                purge(now)  # abandoned sessions (Redis expires its keys by itself)
        assert record is not None
        record.user_id = session.get(USER_KEY)
        record.data = dict(session)
        record.last_seen = record.last_seen if g.get("session_no_touch") and record.last_seen else now
        record.expires_at = self.expiry_of(record)
        self.store.save(record)
        session.record = record
        response.set_cookie(name, session.sid, httponly=True, domain=domain, path=path,
                            secure=self.get_cookie_secure(app), samesite=self.get_cookie_samesite(app))
        response.vary.add("Cookie")


def request_had_cookie(name: str) -> bool:
    from flask import request

    return name in request.cookies


def _audit_timeout(app: Flask, record: SessionRecord, reason: str, client_addr: str | None) -> None:
    from portal.accounts.models import User
    from portal.audit.record import Actor, Event
    from portal.audit.record import record as audit

    try:
        with app.extensions["portal.db"].session() as db:
            user = db.get(User, record.user_id)
            if user is None:
                return
            audit(db, Actor(user.username, tuple(user.role_names), client_addr),
                  Event(action="auth.timeout", target=user.username,
                        details={"reason": reason, "idle_s": round(clock.now() - record.last_seen),
                                 "age_s": round(clock.now() - record.created_at)}))
            db.commit()
    except Exception:  # the sign-in page must still show; the log says why the event is missing
        log.exception("could not audit a session timeout")


def remaining(interface: ServerSessionInterface, session: ServerSession) -> dict[str, float] | None:
    """Seconds left before the idle and the absolute end, for the warning script."""
    record = session.record
    if record is None:
        return None
    now = clock.now()
    return {"idle_s": max(0.0, record.last_seen + interface.idle_s - now),
            "absolute_s": max(0.0, record.created_at + interface.absolute_s - now)}


def init_app(app: Flask) -> None:
    from portal.sso.stores import DatabaseSessionStore, RedisSessionStore, redis_client

    settings = app.extensions["portal.settings"]
    if settings.redis_sessions:
        if not settings.redis_url:
            from portal.errors import ConfigError

            raise ConfigError("settings", "redis_url", "session_store = 'redis' needs a redis_url")
        store: SessionStore = RedisSessionStore(redis_client(settings.redis_url))
    else:
        store = DatabaseSessionStore(app.extensions["portal.db"].sessions)
    app.extensions["portal.session_store"] = store
    app.session_interface = ServerSessionInterface(store, settings.session_idle_minutes * 60.0,
                                                   settings.session_absolute_hours * 3600.0)
