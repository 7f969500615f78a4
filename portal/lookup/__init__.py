"""The lookup engine and its pages: one customer number, every visible system, one view."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

def init_app(app: Flask) -> None:
    import atexit

    from portal.adapters.fanout import make_executor
    from portal.catalog.shadow import ShadowRunner
    from portal.lookup import api, views
    from portal.lookup.service import LookupService
    from portal.numbers import NumberPolicy

    settings = app.extensions["portal.settings"]
    executor = make_executor(settings.fanout_workers)
    atexit.register(executor.shutdown, wait=False, cancel_futures=True)

    shadow = ShadowRunner(app.extensions["portal.catalog"], executor, app.extensions["portal.db"].sessions,
                          settings.lookup_deadline_s)
    app.extensions["portal.shadow"] = shadow
    app.extensions["portal.lookup"] = LookupService(
        catalog=app.extensions["portal.catalog"],
        executor=executor,
        deadline_s=settings.lookup_deadline_s,
        numbers=NumberPolicy(settings.customer_number_pattern),
        shadow=shadow,
    )
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
