"""``/api/v1/adapters``: the same document as the TOML file, as JSON (DESIGN §5)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for

from portal.catalog.service import CatalogService
from portal.db import get_session
from portal.rbac.decorators import require
from portal.sso.identity import current_actor, current_operator
from portal.web import created, json_object

bp = Blueprint("catalog_api", __name__, url_prefix="/api/v1/adapters")


def catalog() -> CatalogService:
    return current_app.extensions["portal.catalog_service"]


@bp.get("")
@require()
def list_adapters():
    infos = catalog().list(get_session(), current_operator())
    return jsonify({"adapters": [info.to_dict(with_document=False) for info in infos]})


@bp.post("")
@require()
def create_adapter():
    info = catalog().create(get_session(), current_operator(), current_actor(), json_object())
    return created(info.to_dict(), url_for("catalog_api.get_adapter", adapter_id=info.id))


@bp.get("/<adapter_id>")
@require()
def get_adapter(adapter_id: str):
    return jsonify(catalog().get(get_session(), current_operator(), adapter_id).to_dict())


@bp.put("/<adapter_id>")
@require()
def update_adapter(adapter_id: str):
    info = catalog().update(get_session(), current_operator(), current_actor(), adapter_id, json_object())
    return jsonify(info.to_dict())


@bp.delete("/<adapter_id>")
@require()
def delete_adapter(adapter_id: str):
    catalog().delete(get_session(), current_operator(), current_actor(), adapter_id)
    return "", 204


@bp.get("/<adapter_id>/versions")
@require()
def adapter_versions(adapter_id: str):
    return jsonify({"versions": catalog().history(get_session(), current_operator(), adapter_id)})


@bp.post("/<adapter_id>/test")
@require()
def test_adapter(adapter_id: str):
    body = request.get_json(silent=True) or {}
    number = str(body.get("number") or request.args.get("number") or "")
    timeout = current_app.extensions["portal.settings"].lookup_deadline_s
    report = catalog().test(get_session(), current_operator(), current_actor(), adapter_id, number, timeout)
    return jsonify(report.to_dict())
