"""Bodies of ``POST /api/v1/users/import``: a multipart upload in, the importer's report out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from portal.schemas import RequestBody, ResponseBody


class ImportUpload(RequestBody):
    """The multipart form (``multipart/form-data``); without ``apply=true`` nothing changes (a dry run)."""

    file: bytes = Field(description="The operators, a legacy CSV export (UTF-8 or GBK)")
    mapping: bytes = Field(default=b"", description="Legacy role -> portal role(s), CSV or TOML (optional)")
    encoding: Literal["auto", "utf-8", "gbk"] = "auto"
    apply: Literal["true", "false"] = "false"


class Change(ResponseBody):
    attribute: str
    before: Any
    after: Any


class ImportLine(ResponseBody):
    line: int = Field(description="The line number in the file (the header is line 1)")
    username: str
    action: Literal["create", "update", "unchanged", "error"]
    changes: list[Change]
    errors: list[str]


class ImportSummary(ResponseBody):
    create: int
    update: int
    unchanged: int
    error: int
    total: int


class ImportReport(ResponseBody):
    applied: bool
    file_sha256: str
    encoding: str
    summary: ImportSummary
    lines: list[ImportLine]


class ImportRefused(ImportReport):
    """A refused ``apply``: a problem document (RFC 9457) that still carries the whole report."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
