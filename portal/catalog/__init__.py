"""The catalogue of back-office systems: adapters from files and those registered by system owners."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.adapters.soap import set_cache_dir
    from portal.catalog import api, views
    from portal.catalog.live import LiveCatalog
    from portal.catalog.service import CatalogService
    from portal.lookup.numbers import NumberPolicy

    settings = app.extensions["portal.settings"]
    # WSDLs are parsed once per process and kept on disk between runs.
    set_cache_dir(settings.data_dir / "cache")
    live = LiveCatalog(settings.adapters_dir, grace_s=settings.lookup_deadline_s * 2)
    app.extensions["portal.catalog"] = live
    app.extensions["portal.catalog_service"] = CatalogService(live, NumberPolicy(settings.customer_number_pattern))
    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
