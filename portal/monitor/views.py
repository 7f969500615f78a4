"""Monitor pages: every system's state at a glance, one system's history, the portal's own health.

Thin: :mod:`portal.monitor.queries` and :mod:`portal.monitor.selfcheck` compute, templates render.
Everything a back office sends (error texts) reaches the page through Jinja's autoescaping only.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Optional

from flask import Blueprint, current_app, render_template

from portal.adapters.base import Adapter
from portal.audit import charts
from portal.db import get_session
from portal.errors import ResourceNotFound
from portal.monitor import queries, selfcheck
from portal.rbac.decorators import require

bp = Blueprint("monitor", __name__)


def adapter_or_404(system_id: str) -> Adapter:
    """The system in force with this id; the monitor shows only what the catalogue holds."""
    adapter = current_app.extensions["portal.catalog"].get(get_session(), system_id)
    if adapter is None:
        raise ResourceNotFound(f"no system {system_id[:40]!r} is registered")
    return adapter


@bp.get("/monitor")
@require("monitor.read")
def index():
    session = get_session()
    systems = queries.overview(session, current_app.extensions["portal.catalog"].adapters(session))
    health = selfcheck.portal_health(current_app, session)
    counts = Counter(s.state for s in systems)
    return render_template("monitor/index.html", systems=systems, health=health, counts=counts)


@bp.get("/monitor/systems/<system_id>")
@require("monitor.read")
def system(system_id: str):
    detail = queries.system_detail(get_session(), adapter_or_404(system_id))
    chart = charts.bars(detail.per_minute, title="Slowest answer per minute, last hour (ms)")
    return render_template("monitor/system.html", detail=detail, s=detail.status, chart=chart,
                           windows=detail.windows, now=queries.now_utc())


@bp.app_template_filter("ago")
def ago(value: Optional[datetime]) -> str:
    """'12:03:04 UTC (2 min ago)': the clock time for the record, the distance for the reader."""
    if value is None:
        return "never"
    value = queries.aware(value)
    seconds = (datetime.now(timezone.utc) - value).total_seconds()  # type: ignore[operator]
    return f"{value:%Y-%m-%d %H:%M:%S} UTC ({distance(seconds)})"  # type: ignore[str-format]


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
