"""Reading what an import uploads: the operators CSV (UTF-8 or GBK) and the legacy role mapping.

Pure text handling, no database: :func:`decode` picks the encoding, :func:`read_rows` checks the header
and keeps each row's line number in the file, :func:`parse_mapping` reads a CSV or TOML mapping.
File-level problems raise :class:`~portal.errors.InvalidDocument` naming the file ("file" or
"mapping") and the line; problems of one row are the planner's (portal.accounts.importer).
"""

from __future__ import annotations

import csv
import io
import re
import tomllib

from portal.errors import InvalidDocument

COLUMNS = ("username", "name", "email", "phone", "region", "roles", "status")
REQUIRED = ("username", "roles")
ENCODINGS = ("utf-8", "gbk")
ROLE_SEPARATORS = re.compile(r"[;|]")

RoleMapping = dict[str, tuple[str, ...]]  # casefolded legacy name -> portal role names


def normalize_encoding(value: str | None) -> str | None:
    """``auto``/empty -> None (detect); otherwise one of :data:`ENCODINGS`."""
    name = (value or "auto").strip().lower().replace("_", "-")
    if name == "auto":
        return None
    name = {"utf8": "utf-8", "utf-8-sig": "utf-8"}.get(name, name)
    if name not in ENCODINGS:
        raise InvalidDocument("encoding", f"{value!r} is not one of auto, utf-8, gbk")
    return name


def decode(data: bytes, encoding: str | None, what: str = "file") -> tuple[str, str]:
    """The text and the encoding used. UTF-8 is tried strictly first: GBK bytes almost never
    form valid UTF-8, while any byte string of ASCII is both (and then both readings agree)."""
    candidates = [encoding] if encoding else list(ENCODINGS)
    failures: list[UnicodeDecodeError] = []
    for name in candidates:
        try:
            text = data.decode("utf-8-sig" if name == "utf-8" else name)
        except UnicodeDecodeError as exc:
            failures.append(exc)
            continue
        return text, name
    # The reading that got further is the likelier encoding: point at where it broke.
    failure = max(failures, key=lambda exc: exc.start)
    line = data[:failure.start].count(b"\n") + 1
    expected = encoding.upper() if encoding else "UTF-8 or GBK"
    raise InvalidDocument(what, f"line {line}: not {expected} text (byte {failure.start + 1}); "
                                f"save the file as UTF-8 or choose its encoding")


def parse_mapping(data: bytes, filename: str = "") -> RoleMapping:
    """Legacy names -> portal roles, from CSV rows ``legacy,role`` or TOML ``[roles] legacy = "role"``
    (or a list of roles). A legacy name may map to several roles; repeated CSV rows add up. Its
    encoding is always detected (it is often written by hand, apart from the export)."""
    text, _ = decode(data, None, "mapping")
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    if filename.lower().endswith(".toml") or (not filename.lower().endswith(".csv") and first.startswith("[")):
        return _mapping_from_toml(text)
    mapping: dict[str, list[str]] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if [cell.lower() for cell in cells] == ["legacy", "role"]:
                continue  # the optional header
            if len(cells) != 2 or not cells[0] or not split_roles(cells[1]):
                raise InvalidDocument("mapping", f"line {reader.line_num}: expected two values, legacy,role")
            mapping.setdefault(cells[0].casefold(), []).extend(split_roles(cells[1]))
    except csv.Error as exc:
        raise InvalidDocument("mapping", f"line {reader.line_num}: {exc}") from exc
    return {legacy: tuple(dict.fromkeys(roles)) for legacy, roles in mapping.items()}


def _mapping_from_toml(text: str) -> RoleMapping:
    try:
        table = tomllib.loads(text).get("roles")
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDocument("mapping", f"not valid TOML: {exc}") from exc
    if not isinstance(table, dict):
        raise InvalidDocument("mapping", "a [roles] table is required: legacy = \"role\" or [\"role\", ...]")
    mapping: RoleMapping = {}
    for legacy, roles in table.items():
        roles = [roles] if isinstance(roles, str) else roles
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r.strip() for r in roles):
            raise InvalidDocument("mapping", f"roles.{legacy}: a role name or a list of role names")
        mapping[legacy.strip().casefold()] = tuple(dict.fromkeys(r.strip() for r in roles))
    return mapping


def split_roles(cell: str) -> list[str]:
    return [name.strip() for name in ROLE_SEPARATORS.split(cell) if name.strip()]


def read_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's column names and the data rows with the file line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    end = 0  # a quoted value may span lines: a row starts on the line after the previous one ended
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _header(row, start)
            else:
                rows.append((start, row))
    except csv.Error as exc:
        raise InvalidDocument("file", f"line {reader.line_num}: {exc}") from exc
    if header is None:
        raise InvalidDocument("file", f"the file is empty; the first line names the columns: {', '.join(COLUMNS)}")
    return header, rows


def _header(row: list[str], line: int) -> list[str]:
    names = [cell.strip().lower() for cell in row]
    names = ["name" if name == "display_name" else name for name in names]
    unknown = [repr(name) if name else "an empty one (a trailing comma?)" for name in names if name not in COLUMNS]
    if unknown:
        raise InvalidDocument("file", f"line {line}: unknown column(s) {', '.join(unknown)}; "
                                      f"the columns are {', '.join(COLUMNS)}")
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise InvalidDocument("file", f"line {line}: column(s) named twice: {', '.join(doubled)}")
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise InvalidDocument("file", f"line {line}: required column(s) missing: {', '.join(missing)} "
                                      f"(is the first line the header?)")
    return names
