"""The catalogue of back-office systems: adapters from files and those registered by system owners."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


def init_app(app: Flask) -> None:
    from portal.adapters.egress_settings import boundary_from_settings
    from portal.catalog import api, egress_api, egress_views, views
    from portal.catalog.console import TestConsole
    from portal.catalog.lifecycle import Lifecycle
    from portal.catalog.live import LiveCatalog
    from portal.catalog.service import CatalogService
    from portal.numbers import NumberPolicy

    settings = app.extensions["portal.settings"]
    # What every adapter may reach and use (portal.adapters.boundary), decided once by the settings,
    # with what this app lends its adapters: its credential store (portal.sso, when it has a vault)
    # and its WSDL cache folder (<data_dir>/cache). Per app: nothing here is process-wide.
    boundary = boundary_from_settings(
        settings,
        credential_bindings=settings.adapters_credential_bindings,
        regex_budget_s=settings.adapters_regex_budget_s,
        credentials=app.extensions.get("portal.adapter_credentials"),
    )
    app.extensions["portal.boundary"] = boundary
    live = LiveCatalog(settings.adapters_dir, grace_s=settings.lookup_deadline_s * 2, boundary=boundary)
    app.extensions["portal.catalog"] = live
    app.extensions["portal.catalog_service"] = CatalogService(live)
    app.extensions["portal.catalog_lifecycle"] = Lifecycle(four_eyes=settings.adapters_four_eyes)
    app.extensions["portal.catalog_console"] = TestConsole(live, NumberPolicy(settings.customer_number_pattern))
    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(egress_views.bp)
    app.register_blueprint(egress_api.bp)
