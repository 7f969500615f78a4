"""The hash chain: the canonical form of an event, its hash, and the verifier.

Each event's ``hash`` is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of its
fields and the previous event's hash. ``seq`` is not hashed: the chain order is what the
``prev_hash`` links say, so a changed ``seq`` shows up as a reordering, not as a modification.

The verifier walks the events in ``seq`` order, from the newest retention anchor (or the genesis
hash), with bounded memory, and names every problem it finds:

- ``modified``  an event's content no longer matches its hash (or its successor no longer
  links to it: modified and re-hashed);
- ``deleted``   events are missing (a gap in ``seq``, a link to nothing, or a chain that ends
  before the recorded head);
- ``inserted``  an event links to its predecessor, but its successor skips it;
- ``reordered`` an event is stored out of the order its links were written in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from portal.clock import as_utc

GENESIS = "0" * 64
HASHED = ("occurred_at", "actor", "roles", "action", "target", "customer", "outcome",
          "client_addr", "correlation_id", "details")


def iso_utc(value: datetime | str) -> str:
    """The one textual form of a timestamp: UTC, microseconds, ``Z``."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # naive (raw SQL on SQLite): written as UTC


def normalise_json(value: Any) -> Any:
    """What the value looks like after a JSON round trip (tuples become lists, ...)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def canonical(fields: dict[str, Any], prev_hash: str) -> bytes:
    body = {name: fields.get(name) for name in HASHED}
    body["occurred_at"] = iso_utc(body["occurred_at"])
    body["prev_hash"] = prev_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def event_hash(fields: dict[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


@dataclass(frozen=True)
class Link:
    """What the verifier needs of one event."""

    seq: int
    id: int
    prev_hash: str
    hash: str
    content_ok: bool


@dataclass
class Problem:
    kind: str  # modified | deleted | inserted | reordered
    seq: int | None
    id: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    ok: bool = True
    checked: int = 0
    anchor_seq: int = 0
    anchor_hash: str = GENESIS
    head_seq: int | None = None
    head_hash: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    problems: list[Problem] = field(default_factory=list)
    truncated: bool = False
    # True when the walk started at the head an earlier successful verification recorded
    # (``anchor_seq``/``anchor_hash`` are then that checkpoint), not at the archive anchor.
    from_checkpoint: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [p.as_dict() for p in self.problems]
        return data


MAX_PROBLEMS = 1000


def verify_links(links: Iterable[Link], *, anchor_seq: int = 0, anchor_hash: str = GENESIS,
                 find_by_hash=lambda digest: None, head: tuple[int, str] | None = None) -> Report:
    """Walk ``links`` (in seq order) and name what was altered.

    ``find_by_hash(digest)`` returns the ``Link`` holding that hash (anywhere in the log) or None;
    ``head`` is the recorded chain head (seq, hash), to notice events cut off the end.
    """
    report = Report(anchor_seq=anchor_seq, anchor_hash=anchor_hash)
    problems: dict[int, Problem] = {}  # by seq: one problem per event, the most telling one
    extra: list[Problem] = []
    flagged: set[int] = set()  # seqs already explained as reordered/inserted
    anchor = Link(seq=anchor_seq, id=0, prev_hash="", hash=anchor_hash, content_ok=True)
    prev, prev_prev = anchor, None

    def add(problem: Problem, *, replace: bool = False) -> None:
        if problem.seq is None:
            extra.append(problem)
        elif replace or problem.seq not in problems:
            problems[problem.seq] = problem

    for link in links:
        report.checked += 1
        if report.first_seq is None:
            report.first_seq = link.seq
        report.last_seq = link.seq
        if not link.content_ok:
            add(Problem("modified", link.seq, link.id, "the event's content does not match its hash"))
        if link.prev_hash != prev.hash:
            _classify_break(link, prev, prev_prev, find_by_hash, add, flagged, anchor)
        prev_prev, prev = prev, link
        if len(problems) + len(extra) >= MAX_PROBLEMS:
            report.truncated = True
            break

    if head is not None and not report.truncated:
        head_seq, head_hash = head
        report.head_seq, report.head_hash = head_seq, head_hash
        if prev.seq < head_seq:
            add(Problem("deleted", prev.seq + 1, None,
                        f"events seq {prev.seq + 1}..{head_seq} are missing from the end of the log"))
        elif prev.seq == head_seq and prev.hash != head_hash:
            add(Problem("modified", prev.seq, prev.id or None, "the newest event does not match the chain head"))
    report.problems = sorted(problems.values(), key=lambda p: p.seq) + extra
    report.ok = not report.problems
    return report


def _classify_break(link: Link, prev: Link, prev_prev: Link | None, find_by_hash, add, flagged: set[int],
                    anchor: Link) -> None:
    if link.seq > prev.seq + 1:
        add(Problem("deleted", prev.seq + 1, None,
                    f"events seq {prev.seq + 1}..{link.seq - 1} are missing (before event seq {link.seq})"))
        return
    if prev.seq in flagged:
        return  # the predecessor is out of place; this break is its consequence
    owner = find_by_hash(link.prev_hash)
    if owner is not None and owner.seq in flagged:
        return
    if prev_prev is not None and link.prev_hash == prev_prev.hash:
        # The successor skips ``prev``: ``prev`` was slipped in.
        flagged.add(prev.seq)
        add(Problem("inserted", prev.seq, prev.id, f"event seq {prev.seq} is not part of the chain: "
                                                   f"event seq {link.seq} links past it"), replace=True)
        return
    if owner is None:
        if not link.content_ok:
            return  # the event itself was altered (reported), its link cannot be trusted
        if link.prev_hash == anchor.hash:
            flagged.add(link.seq)
            add(Problem("reordered", link.seq, link.id, "the event links to the start of the chain"))
            return
        add(Problem("modified", prev.seq, prev.id or None,
                    f"event seq {link.seq} links to a hash no event holds: event seq {prev.seq} was "
                    "modified and re-hashed, or events were deleted and the rest renumbered"))
        return
    flagged.add(link.seq)
    flagged.add(owner.seq)
    add(Problem("reordered", link.seq, link.id,
                f"event seq {link.seq} was written after event seq {owner.seq}, not after seq {prev.seq}"))


def links_in_order(rows: Iterable[Any]) -> Iterator[Link]:
    """``Link`` for each event row (an ``AuditEvent`` or a mapping with its columns)."""
    for row in rows:
        fields = row if isinstance(row, dict) else {name: getattr(row, name) for name in HASHED + ("seq", "id", "prev_hash", "hash")}
        yield Link(seq=fields["seq"], id=fields["id"], prev_hash=fields["prev_hash"], hash=fields["hash"],
                   content_ok=event_hash(fields, fields["prev_hash"]) == fields["hash"])
