"""The agent's pages: the number box, the combined view, and quick channels."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask import session as browser_session
from flask.typing import ResponseReturnValue

from portal.db import get_session
from portal.errors import InvalidCustomerNumber
from portal.lookup.links import quick_channel_url
from portal.lookup.service import LookupService
from portal.rbac.decorators import require
from portal.rbac.policy import permits
from portal.sso.identity import SESSION_EPOCH_KEY, current_actor
from portal.sso.quick import hand_over
from portal.web import signed_in

bp = Blueprint("lookup", __name__)


def service() -> LookupService:
    lookups: LookupService = current_app.extensions["portal.lookup"]
    return lookups


@bp.get("/")
@require()
def home() -> ResponseReturnValue:
    granted = signed_in().permissions
    if not permits(granted, "customer.lookup") and (permits(granted, "adapters.manage") or permits(granted, "adapters.own")):
        return redirect(url_for("catalog.index"))  # land where this operator's work is
    return render_template("home.html")


@bp.get("/customers")
@require("customer.lookup")
def find() -> ResponseReturnValue:
    """The number box submits here; a bad number is shown back in the box, not as an error page."""
    typed = request.args.get("number", "")
    try:
        number = service().numbers.normalise(typed)
    except InvalidCustomerNumber as exc:
        return render_template("home.html", number=typed, error=exc.detail), 400
    return redirect(url_for("lookup.customer", number=number))


@bp.get("/customers/<number>")
@require("customer.lookup")
def customer(number: str) -> ResponseReturnValue:
    try:
        view = service().lookup(number, signed_in(), get_session(), current_actor(),
                                link_for=quick_channel_url)
    except InvalidCustomerNumber as exc:
        return render_template("home.html", number=number, error=exc.detail), 400
    return render_template("customer.html", view=view)


@bp.get("/go/<system_id>/<number>")
@require()
def open_system(system_id: str, number: str) -> ResponseReturnValue:
    """Authorised and audited by the service, then handed over signed in (portal.sso.quick)."""
    channel = service().open_system(system_id, number, signed_in(), get_session(), current_actor())
    response: ResponseReturnValue = hand_over(channel.adapter, channel.url, channel.number, signed_in(),
                                              browser_session.get(SESSION_EPOCH_KEY, 0))
    return response
