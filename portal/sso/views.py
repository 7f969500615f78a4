"""``/login`` (password, then TOTP when required), ``/logout``, the session's status for the idle warning,
and the hand-off endpoints: ``/.well-known/jwks.json`` and ``POST /sso/handoff/redeem``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for

from portal import clock
from portal.accounts.models import User
from portal.accounts.service import authenticate, find_user
from portal.audit.record import Actor, Event, record
from portal.db import get_session
from portal.errors import PROBLEM_JSON, AuthenticationRequired, problem
from portal.rbac.decorators import public
from portal.sso.forms import LoginForm, LogoutForm, TotpForm
from portal.sso.identity import client_addr, current_actor, current_operator, end_session, start_session
from portal.sso.sessions import remaining
from portal.web import csrf

bp = Blueprint("sso", __name__)

FAILED_LOGIN = "Unknown username or wrong password."
LOCKED_OUT = "Too many failed sign-ins. Wait a few minutes, then try again."
PASSWORDS_OFF = "Password sign-in is reserved for break-glass administrators. Use your organisation's sign-in."
PENDING_KEY = "mfa_pending"
PENDING_S = 300  # the password step is good for this long while the second factor is asked


def _ext(name: str):
    return current_app.extensions[name]


@bp.route("/login", methods=["GET", "POST"])
@public("the sign-in page")
def login():
    form = LoginForm()
    providers = _ext("portal.oidc").providers if "portal.oidc" in current_app.extensions else []
    settings = _ext("portal.settings")
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("login.html", form=form, providers=providers), status

    db = get_session()
    username = form.username.data.strip().lower()[:64]
    addr = client_addr()
    actor = Actor(username=username, client_addr=addr)
    throttle = _ext("portal.login_throttle")
    lock = throttle.locked(username, addr)
    if lock is not None:
        record(db, actor, Event(action="auth.login_failed", outcome="denied", target=username,
                                details={"reason": "locked", "lock": lock.kind}))
        db.commit()
        flash(LOCKED_OUT, "error")
        return render_template("login.html", form=form, providers=providers), 429

    user = authenticate(db, username, form.password.data)
    if user is None:
        started_locks = throttle.failure(username, addr)  # its own transaction, before ours writes
        record(db, actor, Event(action="auth.login_failed", outcome="failure", target=username,
                                details={"method": "password"}))
        for started in started_locks:
            record(db, actor, Event(action="auth.lockout", outcome="denied", target=started.key,
                                    details={"lock": started.kind, "until": round(started.until)}))
        db.commit()
        flash(FAILED_LOGIN, "error")
        return render_template("login.html", form=form, providers=providers), 401
    throttle.success(username)

    if settings.password_login == "break_glass" and user.username not in settings.break_glass_users:
        db.rollback()
        record(db, actor, Event(action="auth.login_failed", outcome="denied", target=username,
                                details={"reason": "passwords_off"}))
        db.commit()
        flash(PASSWORDS_OFF, "error")
        return render_template("login.html", form=form, providers=providers), 403

    totp = _ext("portal.totp")
    if totp.required_for(user.role_names):
        db.commit()  # last_login_at, a rehashed password
        return _second_factor(user, "password", form.next.data)
    return finish_login(user, "password", form.next.data)


def finish_login(user: User, method: str, next_url: str | None, extra: dict | None = None):
    """Audit the sign-in and start a fresh session (new id)."""
    db = get_session()
    record(db, Actor(user.username, tuple(user.role_names), client_addr()),
           Event(action="auth.login", target=user.username, details={"method": method, **(extra or {})}))
    db.commit()
    start_session(user, method)
    return redirect(_safe_next(next_url))


def _second_factor(user: User, method: str, next_url: str | None):
    session.clear()
    session[PENDING_KEY] = {"uid": user.id, "method": method, "next": next_url or "", "at": clock.now()}
    if _ext("portal.totp").enrolled(user.id):
        return redirect(url_for("sso.login_totp"))
    return redirect(url_for("sso.totp_enrol"))


def _pending_user() -> User | None:
    pending = session.get(PENDING_KEY)
    if not pending or clock.now() - pending.get("at", 0) > PENDING_S:
        session.pop(PENDING_KEY, None)
        return None
    user = get_session().get(User, pending["uid"])
    return user if user is not None and user.enabled else None


@bp.route("/login/totp", methods=["GET", "POST"])
@public("the second step of signing in: the password was checked, the session is not signed in yet")
def login_totp():
    user = _pending_user()
    if user is None:
        return redirect(url_for("sso.login"))
    form = TotpForm()
    if not form.validate_on_submit():
        return render_template("sso/totp.html", form=form), 400 if request.method == "POST" else 200
    return _check_code(user, form, confirm=False, template="sso/totp.html")


@bp.route("/login/totp/enrol", methods=["GET", "POST"])
@public("enrolling a second factor during sign-in, before the session is signed in; the view checks the pending login or the operator itself")
def totp_enrol():
    """Enrolment during sign-in (a role requires a second factor) or, signed in, from the account menu."""
    operator = current_operator()
    user = get_session().get(User, operator.id) if operator else _pending_user()
    if user is None:
        return redirect(url_for("sso.login"))
    totp = _ext("portal.totp")
    form = TotpForm()
    if totp.enrolled(user.id):
        # Never replaced from here: a password alone (or a borrowed session) must not swap the factor.
        # A lost factor is removed by an administrator (`portal sso reset-totp`).
        if operator is None:
            return redirect(url_for("sso.login_totp"))
        return render_template("sso/totp_enrol.html", form=None, secret=None, uri=None, enrolled=True)
    if request.method == "GET" or not form.validate_on_submit():
        # The secret being enrolled is shown again until a code confirms it (a reload must not change it).
        secret, uri = totp.pending(user.id, user.username) or totp.begin(user.id, user.username)
        return render_template("sso/totp_enrol.html", form=form, secret=secret, uri=uri,
                               enrolled=totp.enrolled(user.id)), 400 if request.method == "POST" else 200
    if operator is not None:
        if not totp.verify(user.id, form.code.data, confirm=True):
            secret, uri = totp.pending(user.id, user.username) or totp.begin(user.id, user.username)
            flash("That code is not right. Check the clock of your device and try again.", "error")
            return render_template("sso/totp_enrol.html", form=form, secret=secret, uri=uri, enrolled=False), 401
        db = get_session()
        record(db, current_actor(), Event(action="auth.mfa_enrol", target=user.username))
        db.commit()
        flash("Second factor enrolled.", "info")
        return redirect(url_for("lookup.home"))
    return _check_code(user, form, confirm=True, template="sso/totp_enrol.html")


def _check_code(user: User, form: TotpForm, confirm: bool, template: str):
    totp = _ext("portal.totp")
    db = get_session()
    actor = Actor(user.username, tuple(user.role_names), client_addr())
    throttle = _ext("portal.login_throttle")
    if throttle.locked(user.username, client_addr()) is not None:
        flash(LOCKED_OUT, "error")
        return render_template(template, form=form, **_enrol_context(user, confirm)), 429
    if not totp.verify(user.id, form.code.data, confirm=confirm):
        started_locks = throttle.failure(user.username, client_addr())
        record(db, actor, Event(action="auth.login_failed", outcome="failure", target=user.username,
                                details={"method": "totp"}))
        for started in started_locks:
            record(db, actor, Event(action="auth.lockout", outcome="denied", target=started.key,
                                    details={"lock": started.kind, "until": round(started.until)}))
        db.commit()
        flash("That code is not right.", "error")
        return render_template(template, form=form, **_enrol_context(user, confirm)), 401
    pending = session.get(PENDING_KEY) or {}
    if confirm:
        record(db, actor, Event(action="auth.mfa_enrol", target=user.username))
    return finish_login(user, pending.get("method", "password"), pending.get("next"), {"mfa": "totp"})


def _enrol_context(user: User, confirm: bool) -> dict:
    if not confirm:
        return {}
    secret, uri = _ext("portal.totp").pending(user.id, user.username) or ("", "")
    return {"secret": secret, "uri": uri, "enrolled": False}


@bp.route("/logout", methods=["GET", "POST"])
@public("signing out must work for an expired session too")
def logout():
    form = LogoutForm()
    if current_operator() is None:
        return redirect(url_for("sso.login"))
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("logout.html", form=form)
    db = get_session()
    record(db, current_actor(), Event(action="auth.logout", target=current_operator().username))
    db.commit()
    end_session()  # the session record is deleted: its outstanding hand-offs can no longer be redeemed
    flash("You are signed out.", "info")
    return redirect(url_for("sso.login"))


@bp.get("/session/status")
@public("tells the idle-timeout warning whether the session still exists; answers nothing else")
def session_status():
    """Seconds left, for the idle warning; reading it does not extend the session."""
    g.session_no_touch = True
    left = remaining(current_app.session_interface, session) if current_operator() else None
    settings = _ext("portal.settings")
    response = jsonify({"authenticated": left is not None, "warning_s": settings.session_warning_seconds,
                        **(left or {})})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/session/keepalive")
@public("extends a signed-in session; does nothing for anyone else")
def session_keepalive():
    """"Stay signed in": any request extends the session; this one does nothing else (CSRF-checked)."""
    if current_operator() is None:
        raise AuthenticationRequired("your session has ended")
    session.modified = True
    return jsonify({"authenticated": True})


@bp.get("/.well-known/jwks.json")
@public("the public keys back-office systems verify hand-off tokens with")
def jwks():
    response = jsonify({"keys": _ext("portal.keyring").published()})
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.post("/sso/handoff/redeem")
@csrf.exempt
@public("back-office systems redeem a one-time hand-off token; the token is the credential")
def redeem_handoff():
    """A system redeems a hand-off token once (form or JSON field ``token``, optional ``audience``)."""
    from portal.sso.handoff import HandoffRefused

    body = request.get_json(silent=True) if request.is_json else request.form
    token = str((body or {}).get("token", ""))
    audience = (body or {}).get("audience") or None
    store = _ext("portal.session_store")
    db = get_session()

    def alive(handle) -> bool:
        found = store.load(str(handle)) if handle else None
        return found is not None and clock.now() < current_app.session_interface.expiry_of(found)

    def epoch(username):
        user = find_user(db, str(username))
        return user.session_epoch if user is not None and user.enabled else None

    try:
        claims = _ext("portal.handoffs").redeem(token, issuer=issuer(), audience=audience, session_alive=alive,
                                                user_epoch=epoch)
    except HandoffRefused as exc:
        record(db, Actor("-", client_addr=client_addr()),
               Event(action="sso.handoff_refused", outcome="denied", target=str(audience or "-")[:200],
                     details={"reason": exc.reason}))
        db.commit()
        body = problem(exc.http_status, exc.title, exc.detail, exc.code, instance=request.path, reason=exc.reason)
        return body, exc.http_status, {"Content-Type": PROBLEM_JSON}
    return jsonify({"active": True, "sub": claims["sub"], "name": claims.get("name"), "aud": claims["aud"],
                    "customer": claims.get("customer"), "exp": claims["exp"]})


def issuer() -> str:
    return _ext("portal.settings").handoff_issuer or request.url_root.rstrip("/")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would turn the login page into a phishing aid."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("lookup.home")
