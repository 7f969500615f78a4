"""The operation log: every operation is an audit event (DESIGN §6).

``record()`` appends to a hash chain in the caller's transaction; ``query`` reads and verifies it;
``stats`` counts it; ``retention`` archives and prunes it; ``forward`` copies events to a SIEM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.audit import api, forward, views

    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    forward.init_app(app)
