"""``kind = "socket"``: one request, one framed answer over raw TCP (docs/adapters.md).

This module holds the options and the adapter; the wire (connecting, framing,
reading within the deadline) is :mod:`portal.adapters.socketwire`, connection
reuse is :mod:`portal.adapters.socketpool` and field parsing is
:mod:`portal.adapters.socketparse`.

``expect`` is the positive twin of ``not_found``: a regular expression every
usable answer matches (``^OK``, ``result=OK``). Raw protocols often answer an
error or a junk record in the same frame as data; without it, a fixed-width or
``key=value`` parser would happily read that as a customer with odd values.

Connection reuse (``keep_alive = true``) suits systems that answer several
requests on one connection. It is refused for ``close`` and ``idle`` framing,
where the end of the connection (or a silence) *is* the end of the answer.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from portal.adapters.base import MAX_ANSWER_BYTES, Adapter, Extracted, LookupContext, render_key
from portal.adapters.charsets import text_charset
from portal.adapters.config import AdapterConfig
from portal.adapters.patterns import BoundedPattern, check_pattern
from portal.adapters.socketparse import (  # noqa: F401 - re-exported for callers of the old module
    SocketParser,
    cut,
    parse_columns,
    parse_kv,
    split_fields,
)
from portal.adapters.socketpool import ConnectionPool
from portal.adapters.socketwire import FrameReader, exchange, frame_request  # noqa: F401 - re-exported
from portal.adapters.templates import Template
from portal.errors import BackendNotFound, BackendProtocolError

log = logging.getLogger(__name__)

Framing = Literal["line", "length", "fixed", "close", "idle"]
MAX_ASCII_LENGTH_DIGITS = 10


class SocketOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    request: Template = Field(min_length=1)
    charset: str = "utf-8"
    framing: Framing = "line"
    terminator: str = Field(default="\n", min_length=1)
    length_format: Literal["binary", "ascii"] = "binary"
    # Declared after the keys they depend on: validators below read those from info.data.
    length_bytes: int = 4
    byteorder: Literal["big", "little"] = "big"
    idle_gap_s: float = Field(default=0.2, gt=0, le=10)
    max_bytes: int = Field(default=1_000_000, gt=0, le=MAX_ANSWER_BYTES)
    record_length: int | None = Field(default=None, gt=0, validate_default=True)
    keep_alive: bool = False
    pool_size: int = Field(default=4, ge=1, le=64)
    pool_idle_s: float = Field(default=10.0, gt=0, le=3600)
    not_found: str | None = None
    expect: str | None = None
    parse: Literal["regex", "kv", "fixed", "split"] = "regex"
    pattern: str | None = Field(default=None, validate_default=True)
    delimiter: str = Field(default="|", min_length=1)

    @field_validator("charset")
    @classmethod
    def _known_charset(cls, value: str) -> str:
        text_charset(value)
        return value

    @field_validator("length_bytes")
    @classmethod
    def _length_width(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("length_format") == "ascii":
            if not 1 <= value <= MAX_ASCII_LENGTH_DIGITS:
                raise ValueError(f"Input should be 1 to {MAX_ASCII_LENGTH_DIGITS} digits for length_format = 'ascii'")
        elif value not in (1, 2, 4):
            raise ValueError("Input should be 1, 2 or 4 (bytes of a binary length prefix)")
        return value

    @field_validator("not_found", "expect")
    @classmethod
    def _not_found_compiles(cls, value: str | None) -> str | None:
        return check_pattern(value)

    @field_validator("record_length")
    @classmethod
    def _record_length_for_fixed(cls, value: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("framing") == "fixed":
            if value is None:
                raise ValueError("required for framing = 'fixed'")
            max_bytes = info.data.get("max_bytes")
            if max_bytes is not None and value > max_bytes:
                raise ValueError(f"larger than max_bytes ({max_bytes})")
        return value

    @field_validator("keep_alive")
    @classmethod
    def _reusable_framing(cls, value: bool, info: ValidationInfo) -> bool:
        framing = info.data.get("framing")
        if value and framing in ("close", "idle"):
            raise ValueError(f"not possible with framing = '{framing}': the answer ends the connection's use")
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern_for_regex(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("parse") == "regex" and not value:
            raise ValueError("required for parse = 'regex'")
        return check_pattern(value)


class SocketAdapter(Adapter):
    kind = "socket"
    Options = SocketOptions
    options: SocketOptions

    def __init__(self, config: AdapterConfig, options: SocketOptions) -> None:
        super().__init__(config, options)
        budget_s = self.boundary.regex_budget_s
        self._parser = SocketParser(config, options.parse, options.pattern, options.delimiter, budget_s=budget_s)
        self._not_found = _pattern(options.not_found, config.id, "not_found", budget_s)
        self._expect = _pattern(options.expect, config.id, "expect", budget_s)
        # Built last: nothing above may fail after the pool has registered with the reaper.
        self._pool = ConnectionPool(options.pool_size, options.pool_idle_s) if options.keep_alive else None

    def fetch(self, key: str, context: LookupContext) -> Extracted:
        opts = self.options
        text = render_key(opts.request, key)
        if opts.framing == "line" and not text.endswith(opts.terminator):
            text += opts.terminator
        try:
            payload = text.encode(opts.charset)
        except UnicodeEncodeError as exc:
            raise BackendProtocolError(f"request cannot be written in {opts.charset}") from exc
        raw = exchange(opts, payload, context, self._pool)
        answer = raw.decode(opts.charset, errors="replace")  # one odd byte must not hide the rest
        if self._not_found is not None and self._not_found.search(answer, context):
            raise BackendNotFound("customer not known to this system")
        if self._expect is not None and not self._expect.search(answer, context):
            raise BackendProtocolError(f"unexpected answer: {_preview(answer)}")
        return self._parser.extract(answer, context)

    def address(self) -> tuple[str, int] | None:
        return self.options.host, self.options.port

    def egress_targets(self) -> list[tuple[str, str, int]]:
        return [("host", self.options.host, self.options.port)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


def _pattern(value: str | None, source: str, key: str, budget_s: float) -> BoundedPattern | None:
    return BoundedPattern(value, source=source, key=key, budget_s=budget_s) if value else None


def _preview(answer: str, limit: int = 60) -> str:
    """The start of an answer as one short, printable line for an error message."""
    text = "".join(ch if ch.isprintable() else " " for ch in answer[: limit * 2])
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
