"""The lookup engine and its pages: one customer number, every visible system, one view."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    import atexit

    from portal.adapters.fanout import make_executor
    from portal.adapters.registry import load_adapter_dir
    from portal.lookup import api, views
    from portal.lookup.numbers import NumberPolicy
    from portal.lookup.service import LookupService

    settings = app.extensions["portal.settings"]
    loaded = load_adapter_dir(settings.adapters_dir)
    for error in loaded.errors:
        # One broken file must not take the others down; `portal adapters list` shows it too.
        log.error("adapter not loaded: %s", error.detail)
    executor = make_executor(settings.fanout_workers)
    atexit.register(executor.shutdown, wait=False, cancel_futures=True)

    app.extensions["portal.adapters"] = loaded
    app.extensions["portal.lookup"] = LookupService(
        adapters=list(loaded.registry),
        executor=executor,
        deadline_s=settings.lookup_deadline_s,
        numbers=NumberPolicy(settings.customer_number_pattern),
    )
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
