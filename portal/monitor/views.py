"""Monitor pages: every system's state at a glance, one system's history, the portal's own health.

Thin: :mod:`portal.monitor.queries` and :mod:`portal.monitor.selfcheck` compute, templates render.
Everything a back office sends (error texts) reaches the page through Jinja's autoescaping only.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from portal import charts, clock
from portal.db import abandon, get_session
from portal.errors import Conflict, InvalidDocument
from portal.monitor import maintenance, queries, selfcheck
from portal.monitor.catalogue import adapter_or_404, systems_in_force
from portal.monitor.systems import SystemInfo
from portal.rbac.decorators import require
from portal.sso.identity import current_actor, current_operator

bp = Blueprint("monitor", __name__)


@bp.get("/monitor")
@require("monitor.read")
def index():
    session = get_session()
    systems = queries.overview(session, current_app.extensions["portal.catalog"].adapters(session))
    health = selfcheck.portal_health(current_app, session)
    counts = Counter(s.state for s in systems)
    windows = [w for w in queries.maintenance_windows(session) if w.live]
    infos = systems_in_force(session)
    # Where this operator may open a window: every system with monitor.manage ('*' too), else their own.
    manageable = [s for s in [*infos, maintenance.ALL_SYSTEMS] if maintenance.may_manage(current_operator(), infos, s)]
    return render_template("monitor/index.html", systems=systems, health=health, counts=counts, windows=windows,
                           cancellable=_cancellable(windows, infos), manageable=manageable, back="")


@bp.get("/monitor/systems/<system_id>")
@require("monitor.read")
def system(system_id: str):
    session = get_session()
    detail = queries.system_detail(session, adapter_or_404(system_id))
    chart = charts.bars(detail.per_minute, title="Slowest answer per minute, last hour (ms)")
    infos = systems_in_force(session)
    manageable = [system_id] if maintenance.may_manage(current_operator(), infos, system_id) else []
    return render_template("monitor/system.html", detail=detail, s=detail.status, chart=chart,
                           windows=detail.windows, cancellable=_cancellable(detail.windows, infos),
                           manageable=manageable, back=system_id)


@bp.post("/monitor/maintenance")
@require()
def create_window():
    """Open a window from a page's form; the service authorises, validates and audits."""
    session = get_session()
    try:
        window = maintenance.create(session, current_operator(), current_actor(), systems_in_force(session),
                                    system_id=request.form.get("system_id", ""),
                                    starts_at=request.form.get("starts_at") or None,
                                    ends_at=request.form.get("ends_at", ""), reason=request.form.get("reason", ""))
    except InvalidDocument as exc:
        abandon(get_session())  # refused: nothing of it is committed
        session.rollback()
        flash(f"The maintenance window was not saved: {exc.detail}", "error")
    else:
        flash(f"Maintenance window {window.id} saved: alerts about {window.system_id} are silenced "
              f"until {window.ends_at:%Y-%m-%d %H:%M} UTC.", "info")
    return redirect(_back())


@bp.post("/monitor/maintenance/<int:window_id>/cancel")
@require()
def cancel_window(window_id: int):
    session = get_session()
    try:
        maintenance.cancel(session, current_operator(), current_actor(), systems_in_force(session), window_id)
    except Conflict as exc:
        abandon(get_session())  # refused: nothing of it is committed
        session.rollback()
        flash(exc.detail, "error")
    else:
        flash(f"Maintenance window {window_id} cancelled: alerts flow again.", "info")
    return redirect(_back())


def _cancellable(windows: list[queries.Window], infos: dict[str, SystemInfo]) -> set[int]:
    operator = current_operator()
    return {w.id for w in windows if w.live and maintenance.may_manage(operator, infos, w.system_id)}


def _back() -> str:
    """The page the form was on: a system's page, or the overview (never a URL taken from the request)."""
    system_id = request.form.get("back", "")
    if system_id and current_app.extensions["portal.catalog"].get(get_session(), system_id) is not None:
        return url_for("monitor.system", system_id=system_id)
    return url_for("monitor.index")


@bp.app_template_filter("ago")
def ago(value: datetime | None) -> str:
    """'12:03:04 UTC (2 min ago)': the clock time for the record, the distance for the reader."""
    if value is None:
        return "never"
    seconds = (clock.utcnow() - value).total_seconds()
    return f"{value:%Y-%m-%d %H:%M:%S} UTC ({distance(seconds)})"


def distance(seconds: float) -> str:
    """A duration in plain words, past or future."""
    later = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{seconds:.0f} s"
    elif seconds < 90 * 60:
        text = f"{seconds / 60:.0f} min"
    elif seconds < 36 * 3600:
        text = f"{seconds / 3600:.1f} h"
    else:
        text = f"{seconds / 86400:.1f} days"
    return f"in {text}" if later else f"{text} ago"
