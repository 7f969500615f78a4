"""An operators' CSV upload as the importer takes it: shared by the upload page and the import API.

Both endpoints accept more than the app-wide request limit (a 10,000-operator export is ~1 MB, more
in GBK with Chinese names), and both turn the uploaded files into one :class:`ImportRequest`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from werkzeug.datastructures import FileStorage

from portal.accounts.import_csv import normalize_encoding
from portal.accounts.importer import ImportRequest
from portal.errors import InvalidDocument

#: What an import upload may weigh (the app-wide limit is 1 MiB).
IMPORT_MAX_BYTES = 16 * 1024 * 1024


def allow_large_uploads(bp: Blueprint) -> None:
    """Raise the request limit to :data:`IMPORT_MAX_BYTES` for every route of ``bp``."""

    @bp.url_value_preprocessor
    def _larger_limit(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
        # URL value preprocessors run before every before_request hook, so the larger limit is in
        # place before the global CSRF check reads the multipart body.
        request.max_content_length = IMPORT_MAX_BYTES


def import_request(upload: FileStorage | None, mapping: FileStorage | None, encoding: str | None,
                   apply: bool) -> ImportRequest:
    """The uploaded files as an :class:`ImportRequest`; no operators file is a 422 naming ``file``."""
    if upload is None or not upload.filename:
        raise InvalidDocument("file", "upload the operators as a CSV file in the 'file' field")
    roles = mapping if mapping is not None and mapping.filename else None  # an empty file field: no mapping
    return ImportRequest(data=upload.read(), filename=upload.filename, encoding=normalize_encoding(encoding),
                         mapping=roles.read() if roles is not None else None,
                         mapping_filename=(roles.filename or "") if roles is not None else "", apply=apply)
