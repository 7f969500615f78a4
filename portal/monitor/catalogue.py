"""The systems the monitor's pages and API show: those in force in the running app's catalogue.

Shared by :mod:`portal.monitor.views` and :mod:`portal.monitor.api`, so neither imports the other.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from portal.adapters.base import Adapter
from portal.db import get_session
from portal.errors import ResourceNotFound
from portal.monitor.systems import SystemInfo, systems_of


def adapter_or_404(system_id: str) -> Adapter:
    """The system in force with this id; the monitor shows only what the catalogue holds."""
    adapter: Adapter | None = current_app.extensions["portal.catalog"].get(get_session(), system_id)
    if adapter is None:
        raise ResourceNotFound(f"no system {system_id[:40]!r} is registered")
    return adapter


def systems_in_force(session: Session) -> dict[str, SystemInfo]:
    return systems_of(current_app.extensions["portal.catalog"].adapters(session))
