"""The agent's pages: the number box, the combined view, and quick channels."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask import session as browser_session

from portal.db import get_session
from portal.errors import InvalidCustomerNumber
from portal.lookup.service import LookupService
from portal.rbac.decorators import require
from portal.rbac.policy import permits
from portal.sso.identity import SESSION_EPOCH_KEY, current_actor, current_operator
from portal.sso.quick import hand_over

bp = Blueprint("lookup", __name__)


def service() -> LookupService:
    return current_app.extensions["portal.lookup"]


def quick_channel_url(system_id: str, number: str) -> str:
    return url_for("lookup.open_system", system_id=system_id, number=number)


@bp.get("/")
@require()
def home():
    granted = current_operator().permissions
    if not permits(granted, "customer.lookup") and (permits(granted, "adapters.manage") or permits(granted, "adapters.own")):
        return redirect(url_for("catalog.index"))  # land where this operator's work is
    return render_template("home.html")


@bp.get("/customers")
@require("customer.lookup")
def find():
    """The number box submits here; a bad number is shown back in the box, not as an error page."""
    typed = request.args.get("number", "")
    try:
        number = service().numbers.normalise(typed)
    except InvalidCustomerNumber as exc:
        return render_template("home.html", number=typed, error=exc.detail), 400
    return redirect(url_for("lookup.customer", number=number))


@bp.get("/customers/<number>")
@require("customer.lookup")
def customer(number: str):
    try:
        view = service().lookup(number, current_operator(), get_session(), current_actor(),
                                link_for=quick_channel_url)
    except InvalidCustomerNumber as exc:
        return render_template("home.html", number=number, error=exc.detail), 400
    return render_template("customer.html", view=view)


@bp.get("/go/<system_id>/<number>")
@require()
def open_system(system_id: str, number: str):
    """Authorised and audited by the service, then handed over signed in (portal.sso.quick)."""
    channel = service().open_system(system_id, number, current_operator(), get_session(), current_actor())
    return hand_over(channel.adapter, channel.url, channel.number, current_operator(),
                     browser_session.get(SESSION_EPOCH_KEY, 0))
