"""Bulk import of operators from the systems the portal replaces (CSV, UTF-8 or GBK).

The whole file is planned before anything is written: :func:`plan_import` reads it together with
the stored operators and roles (one query each, never one per line) and says, line by line, what
would happen. :func:`run_import` writes the plan in one transaction, and only when no line has an
error (all-or-nothing). Planning compares every line with what is stored, so applying the same file
again finds every line unchanged (idempotent).

Imported operators get no password: they sign in through SSO or once an admin resets it. Passwords
are never touched, operators absent from the file are left alone, and nothing is ever deleted.
No Flask here: the CLI, the API and the upload page all call :func:`run_import`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.admin import ADMIN_PERMISSION, EMAIL, PHONE  # the shapes the operator admin accepts
from portal.accounts.import_csv import RoleMapping, decode, normalize_encoding, parse_mapping, read_rows, split_roles
from portal.accounts.models import Role, User, user_roles
from portal.accounts.service import USERNAME
from portal.audit.record import Actor, Event, record, record_refusal
from portal.errors import Conflict, InvalidDocument
from portal.rbac.policy import permits

__all__ = ["Change", "ImportPlan", "ImportReport", "ImportRequest", "LineResult", "Summary", "normalize_encoding",
           "plan_import", "run_import"]

# Legacy exports spell the state in many ways; the Chinese ones use 启用/停用 (or 正常/禁用).
STATUS = {**dict.fromkeys(("enabled", "active", "1", "启用", "正常"), True),
          **dict.fromkeys(("disabled", "inactive", "0", "停用", "禁用"), False)}
# (model attribute, CSV column, longest value) in report order.
ATTRIBUTES = (("display_name", "name", 200), ("email", "email", 254), ("phone", "phone", 32),
              ("region", "region", 64), ("enabled", "status", 0), ("roles", "roles", 0))


# --- the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    attribute: str
    before: Any
    after: Any


@dataclass(frozen=True)
class LineResult:
    """One data line: ``action`` is create, update, unchanged or error."""

    line: int
    username: str
    action: str
    changes: tuple[Change, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Summary:
    create: int
    update: int
    unchanged: int
    error: int

    def text(self) -> str:
        return (f"{self.create} to create, {self.update} to update, {self.unchanged} unchanged, "
                f"{_count(self.error, 'error')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@dataclass(frozen=True)
class ImportReport:
    lines: tuple[LineResult, ...]
    file_sha256: str
    encoding: str
    applied: bool = False

    @property
    def summary(self) -> Summary:
        counts = {action: 0 for action in ("create", "update", "unchanged", "error")}
        for line in self.lines:
            counts[line.action] += 1
        return Summary(**counts)

    @property
    def errors(self) -> list[LineResult]:
        return [line for line in self.lines if line.action == "error"]

    def outcome(self) -> str:
        return "applied" if self.applied else f"nothing applied: {_count(self.summary.error, 'error')}"

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "file_sha256": self.file_sha256, "encoding": self.encoding,
                "summary": {**asdict(self.summary), "total": len(self.lines)},
                "lines": [{"line": line.line, "username": line.username, "action": line.action,
                           "changes": [asdict(change) for change in line.changes],
                           "errors": list(line.errors)} for line in self.lines]}


@dataclass(frozen=True)
class ImportRequest:
    """What the caller uploaded; ``encoding`` None detects UTF-8 (BOM or not), else GBK."""

    data: bytes
    filename: str = ""
    encoding: str | None = None
    mapping: bytes | None = None
    mapping_filename: str = ""
    apply: bool = False


# --- planning --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _State:
    """An operator as the import sees them; ``roles`` sorted."""

    display_name: str = ""
    email: str | None = None
    phone: str | None = None
    region: str | None = None
    enabled: bool = True
    roles: tuple[str, ...] = ()


@dataclass
class _Stored:
    id: int
    state: _State
    session_epoch: int


@dataclass
class _Directory:
    """The stored operators and roles, each loaded by one query."""

    users: dict[str, _Stored]
    role_ids: dict[str, int]
    role_permissions: dict[str, list[str]]
    roles_by_key: dict[str, str]  # casefolded -> name

    @classmethod
    def load(cls, session: Session) -> _Directory:
        roles = session.execute(select(Role.id, Role.name, Role.permissions)).all()
        names = {role_id: name for role_id, name, _ in roles}
        held: dict[int, list[str]] = {}
        for user_id, role_id in session.execute(select(user_roles.c.user_id, user_roles.c.role_id)):
            held.setdefault(user_id, []).append(names[role_id])
        users = {}
        for row in session.execute(select(User.id, User.username, User.display_name, User.email, User.phone,
                                          User.region, User.enabled, User.session_epoch)):
            state = _State(row.display_name or "", row.email, row.phone, row.region, bool(row.enabled),
                           tuple(sorted(held.get(row.id, ()))))
            users[row.username] = _Stored(row.id, state, row.session_epoch or 0)
        return cls(users, {name: role_id for role_id, name, _ in roles},
                   {name: list(perms or ()) for _, name, perms in roles},
                   {name.casefold(): name for _, name, _ in roles})

    def is_admin(self, state: _State) -> bool:
        return state.enabled and any(permits(self.role_permissions[name], ADMIN_PERMISSION) for name in state.roles)


@dataclass
class ImportPlan:
    report: ImportReport
    wanted: dict[str, _State]  # username -> state after the import, for create and update lines
    directory: _Directory


def plan_import(session: Session, request: ImportRequest) -> ImportPlan:
    """Read, validate and compare every line; writes nothing. File-level problems (encoding,
    header, mapping) raise :class:`InvalidDocument`; line problems are reported per line."""
    text, encoding = decode(request.data, request.encoding)
    mapping = parse_mapping(request.mapping, request.mapping_filename) if request.mapping else {}
    columns, rows = read_rows(text)
    directory = _Directory.load(session)
    mapping = _resolve_mapping(mapping, directory)
    lines: list[LineResult] = []
    wanted: dict[str, _State] = {}
    first_line: dict[str, int] = {}
    for number, row in rows:
        errors: list[str] = []
        if len(row) != len(columns):
            errors.append(f"expected {len(columns)} values, found {len(row)}")
            lines.append(LineResult(number, row[0].strip() if row else "", "error", errors=tuple(errors)))
            continue
        cells = {name: value.strip() for name, value in zip(columns, row, strict=True)}
        username = cells["username"].lower()
        if not USERNAME.match(username):
            errors.append(f"username {cells['username']!r} must be 2-64 characters of a-z, 0-9, '.', '_' or '-'")
        elif username in first_line:
            errors.append(f"username {username!r} already appears on line {first_line[username]}")
        else:
            first_line[username] = number
        stored = directory.users.get(username)
        state = _wanted_state(cells, stored.state if stored else _State(), mapping, directory, errors)
        if errors:
            lines.append(LineResult(number, username, "error", errors=tuple(errors)))
            continue
        changes = _diff(stored.state if stored else None, state)
        action = "create" if stored is None else "update" if changes else "unchanged"
        if changes:
            wanted[username] = state
        lines.append(LineResult(number, username, action, changes))
    lines = _keep_an_admin(lines, wanted, directory)
    report = ImportReport(tuple(lines), hashlib.sha256(request.data).hexdigest(), encoding)
    return ImportPlan(report, wanted, directory)


def _resolve_mapping(mapping: RoleMapping, directory: _Directory) -> RoleMapping:
    """The mapping with portal role names as stored; a target that is no role refuses the whole file."""
    resolved: RoleMapping = {}
    for legacy, roles in mapping.items():
        unknown = [role for role in roles if role.casefold() not in directory.roles_by_key]
        if unknown:
            raise InvalidDocument("mapping", f"{legacy!r} maps to unknown role(s) {', '.join(unknown)}")
        resolved[legacy] = tuple(directory.roles_by_key[role.casefold()] for role in roles)
    return resolved


def _wanted_state(cells: dict[str, str], base: _State, mapping: RoleMapping, directory: _Directory,
                  errors: list[str]) -> _State:
    """``base`` (the stored operator, or the defaults) with the file's columns applied; a column
    the file does not have leaves its attribute as it is."""
    values: dict[str, Any] = {}
    for attribute, column, limit in ATTRIBUTES[:4]:
        if column in cells:
            value = cells[column]
            if limit and len(value) > limit:
                errors.append(f"{column} is longer than {limit} characters")
            values[attribute] = value if attribute == "display_name" else value or None
    if values.get("email") and not EMAIL.match(values["email"]):
        errors.append(f"e-mail {values['email']!r} is not an address like name@example.com")
    if values.get("phone") and not PHONE.match(values["phone"]):
        errors.append(f"phone {values['phone']!r} may hold only digits, spaces, dashes and a leading '+'")
    if "status" in cells:
        status = STATUS.get(cells["status"].lower())
        if status is None:
            errors.append(f"status {cells['status']!r} is not enabled/disabled (active/inactive, 1/0, 启用/停用)")
        else:
            values["enabled"] = status
    roles: list[str] = []
    unknown = False
    for name in split_roles(cells["roles"]):
        key = name.casefold()
        # An explicit mapping is the admin's intent, so it wins over a portal role of the same name.
        found = mapping.get(key) or ((directory.roles_by_key[key],) if key in directory.roles_by_key else None)
        if found is None:
            unknown = True
            errors.append(f"unknown role or legacy name {name!r}" + ("" if mapping else " (no mapping file given)"))
        else:
            roles.extend(found)
    values["roles"] = tuple(sorted(set(roles)))
    state = replace(base, **values)
    if state.enabled and not state.roles and not unknown:
        errors.append("an enabled operator needs at least one role")
    return state


def _diff(before: _State | None, after: _State) -> tuple[Change, ...]:
    if before is None:  # a new operator: everything it gets
        return tuple(Change(attribute, None, _show(getattr(after, attribute)))
                     for attribute, _, _ in ATTRIBUTES if getattr(after, attribute) not in (None, ""))
    return tuple(Change(attribute, _show(getattr(before, attribute)), _show(getattr(after, attribute)))
                 for attribute, _, _ in ATTRIBUTES if getattr(before, attribute) != getattr(after, attribute))


def _show(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _keep_an_admin(lines: list[LineResult], wanted: dict[str, _State], directory: _Directory) -> list[LineResult]:
    """Refuse lines that would leave the portal with no enabled administrator (as the admin pages do)."""
    before = {name for name, stored in directory.users.items() if directory.is_admin(stored.state)}
    after = {name for name in before if name not in wanted} | {
        name for name, state in wanted.items() if directory.is_admin(state)}
    if not before or after:
        return lines
    reason = "would leave no enabled administrator; make another operator an admin first"
    demoted = {name for name in before if name in wanted and not directory.is_admin(wanted[name])}
    return [LineResult(line.line, line.username, "error", errors=(reason,)) if line.username in demoted else line
            for line in lines]


# --- applying --------------------------------------------------------------------------------

def run_import(session: Session, actor: Actor, request: ImportRequest) -> ImportReport:
    """Plan, then (when asked and every line is valid) write; audited either way (the caller commits)."""
    plan = plan_import(session, request)
    report, summary = plan.report, plan.report.summary
    details = {"file": request.filename, "file_sha256": report.file_sha256, "encoding": report.encoding,
               "mapping": bool(request.mapping), **asdict(summary)}
    target = request.filename[:200] or None  # the audit column's width; the details keep it whole
    if not request.apply:
        record(session, actor, Event(action="user.import_dry_run", target=target, details=details))
        session.flush()
        return report
    if summary.error:
        # Nothing is written, but an attempt to apply is an operation auditors want to see.
        record_refusal(session, actor, Event(action="user.import", outcome="refused", target=target,
                                             details=details))
        return report
    try:
        _write(session, actor, plan)
        record(session, actor, Event(action="user.import", target=target, details=details))
        session.flush()
    except IntegrityError as exc:
        raise Conflict("an operator in the file was created or changed meanwhile; run the import again") from exc
    session.expire_all()  # bulk statements bypass the identity map
    return replace(report, applied=True)


def _write(session: Session, actor: Actor, plan: ImportPlan) -> None:
    directory, sha = plan.directory, plan.report.file_sha256
    by_name = {line.username: line for line in plan.report.lines if line.action in ("create", "update")}
    now = clock.utcnow()
    new = [name for name in by_name if by_name[name].action == "create"]
    ids: dict[str, int] = {}
    if new:
        # One executemany, not 10,000 unit-of-work inserts. Without RETURNING, psycopg pipelines one
        # prepared statement; RETURNING would make SQLAlchemy build huge multi-row statements that
        # psycopg re-parses batch by batch (measured: 3x slower). The new ids come back in one query.
        rows = [{"username": name, **_columns(plan.wanted[name]), "password_hash": None, "teams": [],
                 "session_epoch": 0, "created_at": now} for name in new]
        session.execute(insert(User), rows)
        ids = {name: user_id for name, user_id in session.execute(select(User.username, User.id))}
    changed = [name for name in by_name if by_name[name].action == "update"]
    scalar_updates = []
    for name in changed:
        stored, state = directory.users[name], plan.wanted[name]
        values = {k: v for k, v in _columns(state).items() if getattr(stored.state, k) != v}
        if stored.state.enabled and not state.enabled:
            values["session_epoch"] = stored.session_epoch + 1  # a disabled operator's sessions end now
        if values:
            scalar_updates.append({"id": stored.id, **values})
        ids[name] = stored.id
    if scalar_updates:
        session.execute(update(User), scalar_updates)  # ORM bulk UPDATE by primary key
    added, removed = [], []
    for name in by_name:
        old = set(directory.users[name].state.roles) if name in directory.users else set()
        new_roles = set(plan.wanted[name].roles)
        added += [{"user_id": ids[name], "role_id": directory.role_ids[r]} for r in sorted(new_roles - old)]
        removed += [{"uid": ids[name], "rid": directory.role_ids[r]} for r in sorted(old - new_roles)]
    if removed:
        session.execute(delete(user_roles).where(user_roles.c.user_id == bindparam("uid"),
                                                 user_roles.c.role_id == bindparam("rid")), removed)
    if added:
        session.execute(insert(user_roles), added)
    for name, line in by_name.items():
        changes = line.changes
        if line.action == "create":
            details = {"after": {c.attribute: c.after for c in changes}}
        else:
            details = {"before": {c.attribute: c.before for c in changes},
                       "after": {c.attribute: c.after for c in changes}}
        record(session, actor, Event(action=f"user.{line.action}", target=name,
                                     details={**details, "import_sha256": sha, "line": line.line}))


def _columns(state: _State) -> dict[str, Any]:
    return {"display_name": state.display_name, "email": state.email, "phone": state.phone,
            "region": state.region, "enabled": state.enabled}
