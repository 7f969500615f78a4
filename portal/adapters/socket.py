"""``kind = "socket"``: one request, one framed answer over raw TCP (docs/adapters.md).

Framing (how the end of the answer is known):

* ``line``   - read until ``terminator`` (the terminator is appended to the
  request if missing). A peer that closes after sending is accepted too.
* ``length`` - a 1, 2 or 4 byte unsigned length prefix (big or little endian)
  on the request and on the answer.
* ``fixed``  - the answer is exactly ``record_length`` bytes.

Every blocking step (connect, send, each ``recv``) gets only what is left of
the lookup's deadline, so a system that drips bytes cannot stretch a lookup.
Reads are bounded by ``max_bytes``.

One connection per lookup, always closed. Future work: keep a small pool of
connections per adapter for systems that allow several requests per connection.
"""

from __future__ import annotations

import codecs
import logging
import re
import socket
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from portal.adapters.base import Adapter, Extracted, LookupContext, render_key
from portal.adapters.config import AdapterConfig
from portal.errors import (
    BackendError,
    BackendNotFound,
    BackendProtocolError,
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
)

log = logging.getLogger(__name__)

RECV_CHUNK = 65536


class SocketOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    request: str = Field(min_length=1)
    charset: str = "utf-8"
    framing: Literal["line", "length", "fixed"] = "line"
    terminator: str = Field(default="\n", min_length=1)
    length_bytes: Literal[1, 2, 4] = 4
    byteorder: Literal["big", "little"] = "big"
    max_bytes: int = Field(default=1_000_000, gt=0)
    # Declared after the keys they depend on: validators below read those from info.data.
    record_length: int | None = Field(default=None, gt=0, validate_default=True)
    not_found: str | None = None
    parse: Literal["regex", "kv", "fixed"] = "regex"
    pattern: str | None = Field(default=None, validate_default=True)
    delimiter: str = Field(default="|", min_length=1)

    @field_validator("charset")
    @classmethod
    def _known_charset(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown charset {value!r}") from None
        return value

    @field_validator("not_found")
    @classmethod
    def _not_found_compiles(cls, value: str | None) -> str | None:
        return _compiles(value)

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

    @field_validator("pattern")
    @classmethod
    def _pattern_for_regex(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("parse") == "regex" and not value:
            raise ValueError("required for parse = 'regex'")
        return _compiles(value)


def _compiles(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
    return value


class SocketAdapter(Adapter):
    kind = "socket"
    Options = SocketOptions
    options: SocketOptions

    def __init__(self, config: AdapterConfig, options: SocketOptions) -> None:
        super().__init__(config, options)
        source = config.id
        self._pattern = re.compile(options.pattern) if options.pattern else None
        self._not_found = re.compile(options.not_found) if options.not_found else None
        self._columns: dict[str, tuple[int, int]] = {}
        for name, spec in config.fields.items():
            key = f"fields.{name}.path"
            if options.parse == "regex":
                assert self._pattern is not None  # guaranteed by SocketOptions
                if spec.path not in self._pattern.groupindex:
                    raise ConfigError(source, key, f"no group named {spec.path!r} in pattern")
            elif options.parse == "fixed":
                self._columns[name] = parse_columns(spec.path, source, key)
        self._tables: dict[str, tuple[re.Pattern[str], dict[str, str]]] = {}
        for name, table in config.tables.items():
            try:
                row = re.compile(table.path)
            except re.error as exc:
                raise ConfigError(source, f"tables.{name}.path", f"invalid regular expression: {exc}") from exc
            for column, group in table.columns.items():
                if group not in row.groupindex:
                    raise ConfigError(source, f"tables.{name}.columns.{column}", f"no group named {group!r} in path")
            self._tables[name] = (row, dict(table.columns))

    def fetch(self, key: str, context: LookupContext) -> Extracted:
        opts = self.options
        text = render_key(opts.request, key)
        if opts.framing == "line" and not text.endswith(opts.terminator):
            text += opts.terminator
        try:
            payload = text.encode(opts.charset)
        except UnicodeEncodeError as exc:
            raise BackendProtocolError(f"request cannot be written in {opts.charset}") from exc
        raw = exchange(opts, payload, context)
        answer = raw.decode(opts.charset, errors="replace")  # one odd byte must not hide the rest
        if self._not_found is not None and self._not_found.search(answer):
            raise BackendNotFound("customer not known to this system")
        return self._extract(answer)

    # -- parsing ----------------------------------------------------------------------

    def _extract(self, answer: str) -> Extracted:
        opts = self.options
        out = Extracted()
        if self.config.fields:
            if opts.parse == "regex":
                assert self._pattern is not None
                match = self._pattern.search(answer)
                if match is None:
                    raise BackendProtocolError("answer does not match the pattern")
                out.fields = {name: match.group(spec.path) for name, spec in self.config.fields.items()}
            elif opts.parse == "kv":
                pairs = parse_kv(answer, opts.delimiter)
                out.fields = {name: pairs.get(spec.path) for name, spec in self.config.fields.items()}
            else:
                out.fields = {name: cut(answer, *self._columns[name]) for name in self.config.fields}
        for name, (row, columns) in self._tables.items():
            out.tables[name] = [
                {column: match.group(group) for column, group in columns.items()} for match in row.finditer(answer)
            ]
        return out


def parse_columns(path: str, source: str, key: str) -> tuple[int, int]:
    """``"3:11"`` -> ``(3, 11)``: 0-based, end exclusive."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", path)
    if not match:
        raise ConfigError(source, key, f"expected start:end character columns, got {path!r}")
    start, end = int(match.group(1)), int(match.group(2))
    if end <= start:
        raise ConfigError(source, key, f"end must be greater than start in {path!r}")
    return start, end


def cut(text: str, start: int, end: int) -> str | None:
    """A fixed-width column, stripped; ``None`` when blank or beyond the record."""
    value = text[start:end].strip()
    return value or None


def parse_kv(text: str, delimiter: str) -> dict[str, str]:
    """``a=1|b=2`` -> ``{"a": "1", "b": "2"}``; the first occurrence of a key wins."""
    pairs: dict[str, str] = {}
    for part in text.split(delimiter):
        name, sep, value = part.partition("=")
        name = name.strip()
        if sep and name and name not in pairs:
            pairs[name] = value.strip()
    return pairs


# -- the wire ---------------------------------------------------------------------------


def frame_request(opts: SocketOptions, payload: bytes) -> bytes:
    if opts.framing != "length":
        return payload
    limit = 1 << (8 * opts.length_bytes)
    if len(payload) >= limit:
        raise BackendProtocolError(f"request longer than a {opts.length_bytes}-byte length prefix allows")
    return len(payload).to_bytes(opts.length_bytes, opts.byteorder) + payload


def exchange(opts: SocketOptions, payload: bytes, context: LookupContext) -> bytes:
    """Connect, send one framed request, read one framed answer; the socket is always closed."""
    try:
        sock = socket.create_connection((opts.host, opts.port), timeout=context.remaining())
    except BackendError:
        raise
    except socket.timeout as exc:
        raise BackendTimeout(context.timeout_message()) from exc
    except ConnectionRefusedError as exc:
        raise BackendUnavailable("connection refused") from exc
    except OSError as exc:
        raise BackendUnavailable(f"cannot connect: {exc.strerror or exc}") from exc
    with sock:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(context.remaining())
            sock.sendall(frame_request(opts, payload))
            return FrameReader(sock, context, opts.max_bytes).read(opts)
        except BackendError:
            raise
        except socket.timeout as exc:
            raise BackendTimeout(context.timeout_message()) from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise BackendUnavailable("connection closed by the system before it answered") from exc
        except OSError as exc:
            raise BackendUnavailable(f"connection failed: {exc.strerror or exc}") from exc


class FrameReader:
    """Reads framed answers from a connected socket within a deadline and a size limit."""

    def __init__(self, sock: socket.socket, context: LookupContext, max_bytes: int) -> None:
        self.sock = sock
        self.context = context
        self.max_bytes = max_bytes
        self.buffer = bytearray()
        self.eof = False

    def read(self, opts: SocketOptions) -> bytes:
        if opts.framing == "line":
            return self.read_line(opts.terminator.encode(opts.charset))
        if opts.framing == "length":
            header = self.read_exactly(opts.length_bytes)
            size = int.from_bytes(header, opts.byteorder)
            if size > self.max_bytes:
                raise BackendProtocolError(f"response larger than {self.max_bytes} bytes")
            return self.read_exactly(size)
        assert opts.record_length is not None  # SocketOptions guarantees it
        return self.read_exactly(opts.record_length)

    def _recv(self) -> None:
        self.sock.settimeout(self.context.remaining())
        chunk = self.sock.recv(RECV_CHUNK)
        if not chunk:
            self.eof = True
            return
        self.buffer += chunk

    def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if self.eof:
                raise BackendProtocolError(f"answer cut off after {len(self.buffer)} of {size} bytes")
            self._recv()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_line(self, terminator: bytes) -> bytes:
        start = 0
        while True:
            index = self.buffer.find(terminator, start)
            if index >= 0:
                if index > self.max_bytes:
                    raise BackendProtocolError(f"response larger than {self.max_bytes} bytes")
                line = bytes(self.buffer[:index])
                del self.buffer[: index + len(terminator)]
                return line
            if len(self.buffer) > self.max_bytes:
                raise BackendProtocolError(f"response larger than {self.max_bytes} bytes")
            if self.eof:
                if self.buffer:
                    line = bytes(self.buffer)  # the peer closed instead of terminating: accept
                    self.buffer.clear()
                    return line
                raise BackendProtocolError("connection closed without an answer")
            # Only the tail can hold a terminator split across two reads.
            start = max(0, len(self.buffer) - len(terminator) + 1)
            self._recv()
