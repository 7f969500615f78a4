"""``/api/v1/adapters``: the same document as the TOML file, as JSON (DESIGN §5), and its lifecycle.

Registering or changing a document makes a draft version; ``.../versions/<n>/approve``,
``.../promote``, ``.../rollback``, ``.../retire`` and ``.../shadow`` take it live
(docs/adapters.md, "How a version goes live"). The service checks who may do what.
Bodies: :mod:`portal.catalog.schemas` (the adapter document itself is validated by the adapter's own
models when it is saved, which name the bad key).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from portal.catalog.console import TestConsole
from portal.catalog.lifecycle import Lifecycle
from portal.catalog.schemas import RollbackRequest, ShadowRequest, TestRequest
from portal.catalog.service import CatalogService
from portal.catalog.shadow import DEFAULT_WINDOW, shadow_report
from portal.db import get_session
from portal.errors import InvalidDocument
from portal.rbac.decorators import require
from portal.sso.identity import current_actor
from portal.web import created, json_body, json_object, path_number, signed_in, validated

bp = Blueprint("catalog_api", __name__, url_prefix="/api/v1/adapters")


def catalog() -> CatalogService:
    return current_app.extensions["portal.catalog_service"]


def lifecycle() -> Lifecycle:
    return current_app.extensions["portal.catalog_lifecycle"]


def console() -> TestConsole:
    return current_app.extensions["portal.catalog_console"]


@bp.get("")
@require()
def list_adapters() -> Response:
    infos = catalog().list(get_session(), signed_in())
    return jsonify({"adapters": [info.to_dict(with_document=False) for info in infos]})


@bp.post("")
@require()
def create_adapter() -> Response:
    info = catalog().create(get_session(), signed_in(), current_actor(), json_object())
    return created(info.to_dict(), url_for("catalog_api.get_adapter", adapter_id=info.id))


@bp.get("/<adapter_id>")
@require()
def get_adapter(adapter_id: str) -> Response:
    return jsonify(catalog().get(get_session(), signed_in(), adapter_id).to_dict())


@bp.put("/<adapter_id>")
@require()
def update_adapter(adapter_id: str) -> Response:
    info = catalog().update(get_session(), signed_in(), current_actor(), adapter_id, json_object())
    return jsonify(info.to_dict())


@bp.delete("/<adapter_id>")
@require()
def delete_adapter(adapter_id: str) -> tuple[str, int]:
    catalog().delete(get_session(), signed_in(), current_actor(), adapter_id)
    return "", 204


@bp.get("/<adapter_id>/versions")
@require()
def adapter_versions(adapter_id: str) -> Response:
    versions = catalog().history(get_session(), signed_in(), adapter_id)
    return jsonify({"versions": [v.to_dict() for v in versions]})


@bp.post("/<adapter_id>/test")
@require()
def test_adapter(adapter_id: str) -> Response:
    if not request.get_data() and request.args.get("number"):
        body = validated(TestRequest, {"number": request.args["number"]})  # ?number= kept for curl users
    else:
        body = json_body(TestRequest)
    timeout = current_app.extensions["portal.settings"].lookup_deadline_s
    report = console().test(get_session(), signed_in(), current_actor(), adapter_id, body.number, timeout,
                            version=body.version)
    return jsonify(report.to_dict())


@bp.post("/<adapter_id>/versions/<version>/approve")
@require()
def approve_version(adapter_id: str, version: str) -> Response:
    step = lifecycle().approve(get_session(), signed_in(), current_actor(), adapter_id, _version(version))
    return jsonify(step.to_dict())


@bp.post("/<adapter_id>/versions/<version>/promote")
@require()
def promote_version(adapter_id: str, version: str) -> Response:
    step = lifecycle().promote(get_session(), signed_in(), current_actor(), adapter_id, _version(version))
    return jsonify(step.to_dict())


@bp.post("/<adapter_id>/versions/<version>/retire")
@require()
def retire_version(adapter_id: str, version: str) -> Response:
    step = lifecycle().retire(get_session(), signed_in(), current_actor(), adapter_id, _version(version))
    return jsonify(step.to_dict())


@bp.post("/<adapter_id>/rollback")
@require()
def rollback_adapter(adapter_id: str) -> Response:
    body = json_body(RollbackRequest, optional=True)
    step = lifecycle().rollback(get_session(), signed_in(), current_actor(), adapter_id, body.to_version)
    return jsonify(step.to_dict())


@bp.put("/<adapter_id>/shadow")
@require()
def start_shadow(adapter_id: str) -> Response:
    body = json_body(ShadowRequest)
    step = lifecycle().shadow(get_session(), signed_in(), current_actor(), adapter_id, body.version)
    return jsonify(step.to_dict())


@bp.delete("/<adapter_id>/shadow")
@require()
def stop_shadow(adapter_id: str) -> Response:
    step = lifecycle().shadow(get_session(), signed_in(), current_actor(), adapter_id, None)
    return jsonify(step.to_dict())


@bp.get("/<adapter_id>/shadow")
@require()
def shadow_comparison(adapter_id: str) -> Response:
    """How a candidate agreed with the live version: ``?version=`` (default: the current candidate)."""
    info = catalog().get(get_session(), signed_in(), adapter_id)
    version = _version(request.args["version"]) if "version" in request.args else info.shadow_version
    if version is None:
        raise InvalidDocument("version", "no shadow run is chosen; name the candidate version")
    window = _version(request.args.get("window", str(DEFAULT_WINDOW)), key="window", maximum=10_000)
    return jsonify(shadow_report(get_session(), adapter_id, version, window).to_dict())


def _version(text: str, key: str = "version", maximum: int = 1_000_000) -> int:
    return path_number(text, key, maximum)
