"""Reading the log: filters, keyset pages, one event, streaming, and verifying the stored chain."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from portal.audit.chain import GENESIS, HASHED, Link, Problem, Report, event_hash, verify_links
from portal.audit.models import AuditAnchor, AuditChainHead, AuditEvent, AuditEventSystem
from portal.clock import as_utc
from portal.errors import RequestError, ResourceNotFound

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_SEQ = 2**63 - 1  # events are numbered in a BIGINT
FILTERS = ("actor", "action", "customer", "system", "outcome", "since", "until")


class InvalidFilter(RequestError):
    code = "invalid_filter"
    title = "Invalid audit filter"


@dataclass(frozen=True)
class Filters:
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in '*' (``auth.*``)
    customer: str | None = None
    system: str | None = None
    outcome: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        values: dict[str, Any] = {}
        for name in FILTERS:
            raw = (args.get(name) or "").strip()
            if not raw:
                continue
            if len(raw) > 200:
                raise InvalidFilter(f"{name}: at most 200 characters")
            values[name] = parse_time(name, raw) if name in ("since", "until") else raw
        filters = cls(**values)
        if filters.since and filters.until and filters.since >= filters.until:
            raise InvalidFilter("since must be before until")
        return filters

    def as_args(self) -> dict[str, str]:
        out = {}
        for name in FILTERS:
            value = getattr(self, name)
            if value is not None:
                out[name] = format_time(value) if isinstance(value, datetime) else value
        return out


#: What a time filter may name: wide enough for any real question, narrow enough that the window's
#: arithmetic (30 days back, the hosts' clock skew) cannot leave ``datetime``'s range (a 500 otherwise).
EARLIEST, LATEST = datetime(2, 1, 1, tzinfo=UTC), datetime(9998, 12, 31, tzinfo=UTC)


def parse_time(name: str, raw: str) -> datetime:
    try:
        value = as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidFilter(f"{name}: {raw!r} is not an ISO 8601 time (e.g. 2026-11-24T08:00:00Z or 2026-11-24)") from None
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the year 1 in UTC
        value = EARLIEST - timedelta(days=1)
    if not EARLIEST <= value <= LATEST:
        raise InvalidFilter(f"{name}: between the years {EARLIEST.year} and {LATEST.year}")
    return value


def format_time(value: datetime) -> str:
    """``2026-11-24T08:00:00Z``, and ``0465-09-01T...`` for a year below 1000 (``strftime("%Y")`` drops the
    zeros on Linux, which is not ISO 8601 and which :func:`parse_time` would refuse)."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not _ascii_digits(raw):
        raise InvalidFilter(f"limit: {raw[:20]!r} is not a number")
    limit = int(raw)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidFilter(f"limit: between 1 and {MAX_LIMIT}")
    return limit


def parse_cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    # A cursor is an event's seq (BIGINT): beyond that SQLite cannot even be asked (a 500 otherwise).
    if not _ascii_digits(raw) or not 1 <= int(raw) <= MAX_SEQ:
        raise InvalidFilter(f"cursor: {raw[:20]!r} is not a cursor from a previous page")
    return int(raw)


def _ascii_digits(text: str) -> bool:
    # int() also reads "٣" and " 3 ", which no client means: a number here is ASCII digits only.
    return text.isascii() and text.isdigit()


CLOCK_SKEW = timedelta(minutes=5)  # how far apart the clocks of several portal hosts may be


def seq_bounds(session: Session, filters: Filters) -> tuple[int | None, int | None]:
    """The ``seq`` range a time window can hold, found on the ``occurred_at`` index.

    Events are stamped under the chain lock, so time grows with ``seq`` (up to the hosts' clock
    skew); bounding ``seq`` lets every filter walk its ``(column, seq)`` index over the window only.
    """
    low = high = None
    if filters.since:
        low = session.scalar(select(AuditEvent.seq).where(AuditEvent.occurred_at >= filters.since - CLOCK_SKEW)
                             .order_by(AuditEvent.occurred_at).limit(1))
        low = low if low is not None else 2**62  # nothing that recent
    if filters.until:
        high = session.scalar(select(AuditEvent.seq).where(AuditEvent.occurred_at < filters.until + CLOCK_SKEW)
                              .order_by(AuditEvent.occurred_at.desc()).limit(1))
        high = high if high is not None else 0  # nothing that old
    return low, high


def filtered(filters: Filters, bounds: tuple[int | None, int | None] = (None, None)) -> Select:
    query = select(AuditEvent)
    low, high = bounds
    if low is not None:
        query = query.where(AuditEvent.seq >= low)
    if high is not None:
        query = query.where(AuditEvent.seq <= high)
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.action:
        if filters.action.endswith("*"):
            query = query.where(AuditEvent.action.startswith(filters.action[:-1], autoescape=True))
        else:
            query = query.where(AuditEvent.action == filters.action)
    if filters.customer:
        query = query.where(AuditEvent.customer == filters.customer)
    if filters.outcome:
        query = query.where(AuditEvent.outcome == filters.outcome)
    if filters.system:
        touched = select(AuditEventSystem.seq).where(AuditEventSystem.system == filters.system)
        if low is not None:
            touched = touched.where(AuditEventSystem.seq >= low)
        if high is not None:
            touched = touched.where(AuditEventSystem.seq <= high)
        query = query.where(AuditEvent.seq.in_(touched))
    if filters.since:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.occurred_at < filters.until)
    return query


@dataclass
class Page:
    events: list[AuditEvent]
    next_cursor: int | None


def page(session: Session, filters: Filters, *, limit: int = DEFAULT_LIMIT, cursor: int | None = None) -> Page:
    """Newest first; ``cursor`` is the ``next_cursor`` of the previous page (events older than it)."""
    query = filtered(filters, seq_bounds(session, filters))
    if cursor is not None:
        query = query.where(AuditEvent.seq < cursor)
    rows = list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].seq if more and rows else None)


def get_event(session: Session, seq: int) -> AuditEvent:
    row = session.scalars(select(AuditEvent).where(AuditEvent.seq == seq)).first()
    if row is None:
        raise ResourceNotFound(f"no audit event {seq}")
    return row


def stream(session: Session, filters: Filters, *, batch: int = 2000) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, fetched in keyset batches: memory stays bounded."""
    after = 0
    bounds = seq_bounds(session, filters)
    while True:
        rows = list(session.scalars(filtered(filters, bounds).where(AuditEvent.seq > after)
                                    .order_by(AuditEvent.seq).limit(batch)))
        if not rows:
            return
        yield from rows
        after = rows[-1].seq
        session.expunge_all()  # let the batch go
        if len(rows) < batch:
            return


def chain_head(session: Session) -> tuple[int, str]:
    head = session.get(AuditChainHead, 1)
    return (head.seq, head.hash) if head else (0, GENESIS)


def latest_anchor(session: Session) -> AuditAnchor | None:
    return session.scalars(select(AuditAnchor).order_by(AuditAnchor.seq.desc()).limit(1)).first()


_COLUMNS = [getattr(AuditEvent, name) for name in HASHED + ("seq", "id", "prev_hash", "hash")]


VERIFY_ACTION = "audit.verify"


def latest_checkpoint(session: Session) -> tuple[int, str] | None:
    """(seq, hash) of the chain head the newest successful verification found, as its own event recorded."""
    recent = session.scalars(select(AuditEvent).where(AuditEvent.action == VERIFY_ACTION,
                                                      AuditEvent.outcome == "success")
                             .order_by(AuditEvent.seq.desc()).limit(20))
    for event in recent:
        details = event.details or {}
        if isinstance(details.get("head_seq"), int) and isinstance(details.get("head_hash"), str):
            return details["head_seq"], details["head_hash"]
    return None


def verify(session: Session, *, since_checkpoint: bool = False, batch: int = 5000) -> Report:
    """Check the stored chain from the newest anchor (or the beginning) to the recorded head.

    ``since_checkpoint``: start instead where the newest successful verification ended, after
    checking that the event it ended on is unchanged: seconds instead of minutes on a large log,
    for frequent checks between full ones. Changes *before* that checkpoint are found only by a
    full verification, so run one regularly too.
    """
    anchor = latest_anchor(session)
    anchor_seq, anchor_hash = (anchor.seq, anchor.hash) if anchor else (0, GENESIS)
    after = -1 if anchor is None else anchor_seq  # events below an anchor are archived
    checkpoint = latest_checkpoint(session) if since_checkpoint else None
    if checkpoint is not None and checkpoint[0] > anchor_seq:
        anchor_seq, anchor_hash = checkpoint
        after = anchor_seq
        broken = _checkpoint_problem(session, *checkpoint)
        if broken is not None:
            return Report(ok=False, anchor_seq=anchor_seq, anchor_hash=anchor_hash, problems=[broken],
                          from_checkpoint=True)

    def links() -> Iterator[Link]:
        position = after
        while True:
            rows = session.execute(select(*_COLUMNS).where(AuditEvent.seq > position)
                                   .order_by(AuditEvent.seq).limit(batch)).mappings().all()
            for row in rows:
                yield _link(row)
            if len(rows) < batch:
                return
            position = rows[-1]["seq"]

    def find_by_hash(digest: str) -> Link | None:
        row = session.execute(select(*_COLUMNS).where(AuditEvent.hash == digest)).mappings().first()
        return _link(row) if row else None

    report = verify_links(links(), anchor_seq=anchor_seq, anchor_hash=anchor_hash,
                          find_by_hash=find_by_hash, head=chain_head(session))
    report.from_checkpoint = checkpoint is not None and anchor_seq == checkpoint[0]
    return report


def _checkpoint_problem(session: Session, seq: int, digest: str) -> Problem | None:
    """Why the event an earlier verification ended on no longer holds, or ``None`` if it still does."""
    row = session.execute(select(*_COLUMNS).where(AuditEvent.seq == seq)).mappings().first()
    if row is None:
        return Problem("deleted", seq, None, "the event a previous verification ended on is gone; "
                                             "run a full verification")
    if row["hash"] != digest or not _link(row).content_ok:
        return Problem("modified", seq, row["id"], "the event a previous verification ended on was changed "
                                                   "since; run a full verification")
    return None


def verification_details(report: Report) -> dict[str, Any]:
    """What an ``audit.verify`` event records: the outcome, and the head it reached (the next checkpoint)."""
    details: dict[str, Any] = {"checked": report.checked, "problems": len(report.problems),
                               "first": report.problems[0].as_dict() if report.problems else None,
                               "from_seq": report.anchor_seq, "from_checkpoint": report.from_checkpoint}
    if report.ok and report.head_seq is not None:
        details.update(head_seq=report.head_seq, head_hash=report.head_hash)
    return details


def _link(row: Mapping[str, Any]) -> Link:
    return Link(seq=row["seq"], id=row["id"], prev_hash=row["prev_hash"], hash=row["hash"],
                content_ok=event_hash(dict(row), row["prev_hash"]) == row["hash"])


def count(session: Session, filters: Filters) -> int:
    return session.scalar(select(func.count()).select_from(filtered(filters, seq_bounds(session, filters)).subquery())) or 0
