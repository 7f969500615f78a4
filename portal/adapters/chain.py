"""Key chaining: a system asked about a value another system returned (issue 3, item 6).

::

    # config/adapters/loyalty.toml: this system keys on BOSS's account id, not the phone number
    key = "{boss.account_id}"

An adapter's ``key`` template may use ``{customer}`` (the number the agent typed;
the default key is just that) and ``{<adapter id>.<field>}``. The resolved key is
what the adapter's own templates see as ``{customer}``, so kinds know nothing of
chaining.

At load time :func:`find_problems` (used by the registry) rejects a reference to
an unknown adapter or to a field the upstream does not declare, and every adapter
in a cycle; :func:`plan_waves` orders the rest in dependency waves. At lookup
time the fan-out starts each adapter as soon as its own upstreams have answered,
inside the one deadline of the lookup, and :func:`resolve_key` fills the key or
says plainly why it cannot ("needs boss.account_id: BOSS billing & CRM did not
answer (timeout)"); that becomes the adapter's ``error`` status, never a crash.

Secure by default: the fan-out queries only the adapters it is given, i.e. the
systems the operator may see. An upstream hidden from the operator is **not**
queried on their behalf; the dependent panel says what it needs instead.
Otherwise an operator without access to BOSS could make the portal read BOSS for
them, and learn from the dependent system's answer what BOSS holds. To chain two
systems for a role, grant the role both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from portal.adapters.base import Adapter, Status, SystemResult
from portal.adapters.config import CUSTOMER, PLACEHOLDER, REFERENCE, KeyReference
from portal.errors import BackendError, ConfigError

#: A key longer than this is not an identifier but a hostile or broken answer.
MAX_KEY_CHARS = 256

_WHY_NOT: dict[Status, str] = {
    Status.TIMEOUT: "did not answer",
    Status.UNAVAILABLE: "could not be reached",
    Status.NOT_FOUND: "does not know this customer",
    Status.ERROR: "answered with an error",
}


class ChainError(ConfigError):
    """A key chain that can never work; ``adapter_id`` is rejected, ``involved`` names everyone concerned."""

    code = "key_chain_invalid"

    def __init__(self, adapter_id: str, reason: str, involved: Sequence[str], source: str | None = None) -> None:
        self.adapter_id = adapter_id
        self.involved = tuple(involved)
        super().__init__(source or f"adapter {adapter_id}", "key", reason)


class KeyUnavailable(BackendError):
    """An upstream value the key needs is missing; the adapter's panel shows ``error`` with this detail."""

    code = "key_unavailable"
    title = "The value this system is asked about is not available"
    result_status = "error"


# -- load time --------------------------------------------------------------------------


def upstream_ids(adapter: Adapter) -> list[str]:
    """The adapters ``adapter``'s key reads from, in template order, without repeats."""
    return list(dict.fromkeys(ref.adapter for ref in adapter.config.key_references))


def find_problems(adapters: Sequence[Adapter]) -> list[ChainError]:
    """Every adapter whose key chain cannot work, one :class:`ChainError` each, in input order.

    Rejected: a reference to an adapter not in ``adapters`` or to a field its
    upstream does not declare; every member of a cycle; and, transitively, every
    adapter whose upstream is rejected (it could never get its key).
    """
    by_id = {adapter.id: adapter for adapter in adapters}
    rejected: dict[str, ChainError] = {}
    for adapter in adapters:
        for ref in adapter.config.key_references:
            upstream = by_id.get(ref.adapter)
            if upstream is None:
                reason = f"{{{ref}}} refers to adapter {ref.adapter!r}, which is not loaded"
            elif ref.field not in upstream.config.fields:
                known = ", ".join(upstream.config.fields) or "none"
                reason = f"{{{ref}}} refers to field {ref.field!r}, which {ref.adapter!r} does not declare (its fields: {known})"
            else:
                continue
            rejected.setdefault(adapter.id, ChainError(adapter.id, reason, (adapter.id, ref.adapter)))
    graph = {a.id: [up for up in upstream_ids(a) if up in by_id] for a in adapters}
    for members in _cycles(graph):
        path = " -> ".join(_cycle_path(members, graph))
        reason = f"key chain forms a cycle: {path} (each needs the next)"
        for member in members:
            rejected.setdefault(member, ChainError(member, reason, members))
    changed = True
    while changed:  # whoever needs a rejected adapter cannot work either
        changed = False
        for adapter in adapters:
            if adapter.id in rejected:
                continue
            bad = next((up for up in graph[adapter.id] if up in rejected), None)
            if bad is not None:
                reason = f"needs adapter {bad!r}, which is rejected ({rejected[bad].reason})"
                rejected[adapter.id] = ChainError(adapter.id, reason, (adapter.id, bad))
                changed = True
    return [rejected[a.id] for a in adapters if a.id in rejected]


def plan_waves(adapters: Sequence[Adapter]) -> list[list[Adapter]]:
    """Topological waves: wave 0 keys on the customer number, wave n on waves < n.

    Raises the first :class:`ChainError` of :func:`find_problems`. Within a wave
    adapters keep their input order.
    """
    problems = find_problems(adapters)
    if problems:
        raise problems[0]
    waves: list[list[Adapter]] = []
    placed: set[str] = set()
    remaining = list(adapters)
    while remaining:
        wave = [a for a in remaining if all(up in placed for up in upstream_ids(a))]
        placed.update(a.id for a in wave)
        remaining = [a for a in remaining if a.id not in placed]
        waves.append(wave)
    return waves


def with_upstreams(adapter: Adapter, adapters: Sequence[Adapter]) -> list[Adapter]:
    """``adapter`` and everything its key needs, upstreams first (e.g. to test one chained adapter)."""
    by_id = {a.id: a for a in adapters}
    ordered: list[Adapter] = []
    seen: set[str] = set()

    def visit(current: Adapter) -> None:
        if current.id in seen:
            return
        seen.add(current.id)
        for up in upstream_ids(current):
            if up in by_id:
                visit(by_id[up])
        ordered.append(current)

    visit(adapter)
    return ordered


# -- lookup time ------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupPlan:
    """What one fan-out needs: per adapter (by index) its upstreams among ``adapters``, and the unrunnable."""

    upstreams: list[tuple[int, ...]]
    dependents: list[list[int]]
    broken: dict[int, str]  # index -> why it can never run here (a cycle)


def plan_lookup(adapters: Sequence[Adapter]) -> LookupPlan:
    """Lenient planning for one lookup: upstreams that are absent are left to :func:`resolve_key` to report."""
    index: dict[str, int] = {}
    for i, adapter in enumerate(adapters):
        index.setdefault(adapter.id, i)
    upstreams = [tuple(index[up] for up in upstream_ids(a) if up in index) for a in adapters]
    dependents: list[list[int]] = [[] for _ in adapters]
    for i, ups in enumerate(upstreams):
        for up in ups:
            dependents[up].append(i)
    graph = {a.id: [up for up in upstream_ids(a) if up in index] for a in adapters}
    broken: dict[int, str] = {}
    for members in _cycles(graph):  # only if unchecked documents reached us; never hang on them
        reason = f"key chain forms a cycle: {' -> '.join(_cycle_path(members, graph))}"
        for member in members:
            broken[index[member]] = reason
    return LookupPlan(upstreams, dependents, broken)


def resolve_key(template: str, customer: str, results_by_id: Mapping[str, SystemResult], *,
                names: Mapping[str, str] | None = None) -> str:
    """Fill ``template`` from the customer number and upstream results; :class:`KeyUnavailable` if it cannot.

    ``names`` (adapter id -> name people know) makes the message readable.
    Upstream values are stripped and must be short and free of control
    characters: a back office is untrusted, and a key ends up in other systems'
    requests (a newline would split a line-framed socket request in two).
    """
    names = names or {}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name == CUSTOMER:
            return customer
        parsed = REFERENCE.match(name)
        if parsed is None:  # config validation rejects these; be explicit if one slips through
            raise KeyUnavailable(f"key template has an unknown placeholder {{{name}}}")
        ref = KeyReference(parsed.group("adapter"), parsed.group("field"))
        label = names.get(ref.adapter, ref.adapter)
        result = results_by_id.get(ref.adapter)
        if result is None:
            raise KeyUnavailable(f"needs {ref}: {label} is not queried in this lookup")
        if result.status is not Status.OK:
            why = _WHY_NOT.get(result.status, "failed")
            raise KeyUnavailable(f"needs {ref}: {label} {why} ({result.status.value})")
        value = result.fields.get(ref.field)
        text = "" if value is None else str(value).strip()
        if not text:
            raise KeyUnavailable(f"needs {ref}: {label} answered without {ref.field}")
        if len(text) > MAX_KEY_CHARS:
            raise KeyUnavailable(f"needs {ref}: {label} returned {len(text)} characters, too long for a key")
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
            raise KeyUnavailable(f"needs {ref}: {label} returned a value with control characters")
        return text

    return PLACEHOLDER.sub(fill, template)


# -- graphs -----------------------------------------------------------------------------


def _cycles(graph: Mapping[str, list[str]]) -> list[tuple[str, ...]]:
    """Strongly connected groups that contain a cycle (a self-loop counts), in graph order.

    Adapter graphs are small (tens of nodes), so plain reachability is clear and fast enough.
    """
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        stack = list(graph[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(graph.get(node, ()))
        reach[start] = seen
    groups: list[tuple[str, ...]] = []
    grouped: set[str] = set()
    for node in graph:
        if node in grouped or node not in reach[node]:
            continue
        members = tuple(other for other in graph if other in reach[node] and node in reach[other])
        grouped.update(members)
        groups.append(members)
    return groups


def _cycle_path(members: tuple[str, ...], graph: Mapping[str, list[str]]) -> list[str]:
    """One concrete cycle inside a group, for the message: ``a -> b -> a``."""
    inside = set(members)
    path = [members[0]]
    while True:
        following = next(up for up in graph[path[-1]] if up in inside)
        if following in path:
            return path[path.index(following):] + [following]
        path.append(following)
