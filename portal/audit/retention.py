"""Retention: archive old events to a JSON Lines file with their chain anchor, then prune them.

The archive holds a header line (``{"archive": "portal-audit", "first_seq", "prev_hash"}``), one line
per event (the export form, with ``seq``, ``prev_hash`` and ``hash``) and a trailer
(``{"anchor": {"seq", "hash"}, "count"}``). ``audit_anchors`` remembers the last archived event's
(seq, hash) and the archive's SHA-256; the verifier starts the remaining chain from that anchor,
and ``verify_archive()`` checks an archive file on its own.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from portal import clock
from portal.audit import query
from portal.audit.chain import GENESIS, event_hash
from portal.audit.export import event_document
from portal.audit.models import AuditAnchor, AuditEvent, AuditEventSystem
from portal.audit.record import Actor, Event, record
from portal.errors import Conflict


@dataclass(frozen=True)
class Archived:
    archive: str
    first_seq: int
    seq: int
    hash: str
    count: int


def apply(session: Session, *, days: int | None = None, archive_dir: str | Path | None = None,
          now: datetime | None = None) -> Archived | None:
    """Archive and prune events older than ``days`` (default: the ``audit_retention_days`` setting)."""
    settings = _settings()
    days = days if days is not None else getattr(settings, "audit_retention_days", 0)
    if not days or days < 1:
        return None
    cutoff = (now or clock.utcnow()) - timedelta(days=days)
    directory = Path(archive_dir or getattr(settings, "audit_archive_dir", None) or
                     Path(getattr(settings, "data_dir", "var")) / "audit-archive")
    return archive_before(session, cutoff, directory)


def archive_before(session: Session, cutoff: datetime, directory: Path) -> Archived | None:
    report = query.verify(session)
    if not report.ok:
        raise Conflict(f"the audit chain is broken ({report.problems[0].kind} at seq {report.problems[0].seq}); "
                       "nothing was archived or pruned")
    upto = session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.occurred_at < cutoff))
    anchor = query.latest_anchor(session)
    start = anchor.seq if anchor else 0
    if upto is None or upto <= start:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    stamp = clock.utcnow().strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"audit-{start + 1:012d}-{upto:012d}-{stamp}.jsonl"
    digest, count, first, last = _write_archive(session, path, start, upto)
    row = AuditAnchor(seq=last["seq"], hash=last["hash"], first_seq=first, count=count, archive=str(path),
                      archive_sha256=digest, created_at=clock.utcnow())
    session.add(row)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL portal.audit_prune = 'on'"))  # the trigger lets archived events go
    session.execute(delete(AuditEventSystem).where(AuditEventSystem.seq <= upto))
    session.execute(delete(AuditEvent).where(AuditEvent.seq <= upto))
    record(session, Actor("retention"), Event(action="audit.prune", target=path.name,
                                              details={"first_seq": first, "seq": upto, "count": count,
                                                       "anchor": last["hash"], "archive_sha256": digest,
                                                       "cutoff": cutoff.isoformat()}))
    session.commit()
    return Archived(str(path), first, upto, last["hash"], count)


def _write_archive(session: Session, path: Path, start: int, upto: int) -> tuple[str, int, int, dict[str, Any]]:
    sha = hashlib.sha256()
    count, first, last = 0, None, None
    temporary = path.with_suffix(".partial")
    with temporary.open("w", encoding="utf-8") as out:
        def put(document: dict[str, Any]) -> None:
            line = json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
            sha.update(line.encode("utf-8"))
            out.write(line)

        after = start
        while True:
            rows = list(session.scalars(select(AuditEvent).where(AuditEvent.seq > after, AuditEvent.seq <= upto)
                                        .order_by(AuditEvent.seq).limit(5000)))
            if not rows:
                break
            for row in rows:
                document = event_document(row)
                if first is None:
                    first = row.seq
                    put({"archive": "portal-audit", "first_seq": row.seq, "prev_hash": row.prev_hash})
                put(document)
                count += 1
                last = document
            after = rows[-1].seq
        put({"anchor": {"seq": last["seq"], "hash": last["hash"]}, "count": count})
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
    return sha.hexdigest(), count, first, last


def verify_archive(path: str | Path) -> dict[str, Any]:
    """Check an archive on its own: every event's hash and link, and the trailer's anchor."""
    problems: list[str] = []
    prev, count, anchor = None, 0, None
    sha = hashlib.sha256()
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            sha.update(line.encode("utf-8"))
            document = json.loads(line)
            if "archive" in document:
                prev = document.get("prev_hash", GENESIS)
                continue
            if "anchor" in document:
                anchor = document["anchor"]
                continue
            count += 1
            if document["prev_hash"] != prev:
                problems.append(f"line {number}: event seq {document['seq']} does not link to the one before")
            if event_hash(document, document["prev_hash"]) != document["hash"]:
                problems.append(f"line {number}: event seq {document['seq']} was modified")
            prev = document["hash"]
    if anchor is None or anchor.get("hash") != prev:
        problems.append("the trailer's anchor does not match the last event")
    return {"ok": not problems, "count": count, "anchor": anchor, "sha256": sha.hexdigest(), "problems": problems}


def _settings():
    try:
        from flask import current_app

        return current_app.extensions["portal.settings"]
    except (RuntimeError, KeyError):
        return None
