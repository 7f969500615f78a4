"""Where the combined view's quick channels lead: shared by the agent's pages and the JSON API."""

from __future__ import annotations

from flask import url_for


def quick_channel_url(system_id: str, number: str) -> str:
    """The portal's audited hand-off into ``system_id`` for ``number`` (``lookup.open_system``)."""
    return url_for("lookup.open_system", system_id=system_id, number=number)
