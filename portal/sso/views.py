"""``/login`` and ``/logout``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for

from portal.accounts.service import authenticate
from portal.audit.record import Actor, Event, record
from portal.db import get_session
from portal.sso.forms import LoginForm, LogoutForm
from portal.sso.identity import client_addr, current_actor, current_operator, end_session, start_session

bp = Blueprint("sso", __name__)

FAILED_LOGIN = "Unknown username or wrong password."


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("login.html", form=form), status

    session = get_session()
    username = form.username.data.strip().lower()
    user = authenticate(session, username, form.password.data)
    if user is None:
        record(session, Actor(username=username[:64], client_addr=client_addr()),
               Event(action="auth.login_failed", outcome="failure", target=username[:200]))
        session.commit()
        flash(FAILED_LOGIN, "error")
        return render_template("login.html", form=form), 401

    record(session, Actor(user.username, tuple(user.role_names), client_addr()),
           Event(action="auth.login", target=user.username, details={"method": "password"}))
    session.commit()
    start_session(user)
    return redirect(_safe_next(form.next.data))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = LogoutForm()
    if current_operator() is None:
        return redirect(url_for("sso.login"))
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("logout.html", form=form)
    session = get_session()
    record(session, current_actor(), Event(action="auth.logout", target=current_operator().username))
    session.commit()
    end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("sso.login"))


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would turn the login page into a phishing aid."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("lookup.home")
