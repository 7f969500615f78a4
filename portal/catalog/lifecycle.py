"""How a registered adapter version goes live: approve, promote, roll back, retire, and shadow runs.

::

    draft --approve--> approved --promote--> live --(another is promoted)--> approved
      |                   |                   |
      +------retire-------+-------retire------+--> retired

* **approve** needs ``adapters.approve`` and, unless ``[adapters] four_eyes =
  false``, someone other than the version's author;
* **promote** makes an approved version the one agents use; the version that was
  live goes back to approved, so **rollback** (promote the newest approved version
  older than the live one, or any approved version named) restores it in one step;
* **retire** takes a version out for good; retiring the live version takes the
  system out of agents' view;
* **shadow** runs a draft or approved version beside the live one on real
  lookups (:mod:`portal.catalog.shadow`); owners read how often they agreed.

Promote, rollback, retire and shadow need ownership of the adapter (its team,
or ``adapters.manage``). Every step is recorded as an :class:`AdapterTransition`
(which also tells every portal instance to reload) and audited with before and
after. Engine code: flushes, the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts.service import Operator
from portal.audit.record import Actor, Event, record
from portal.catalog.models import AdapterTransition, AdapterVersion, StoredAdapter, VersionState
from portal.catalog.ownership import APPROVE, require_owner, require_reader
from portal.catalog.service import stored_adapter
from portal.errors import Conflict, PermissionDenied, ResourceNotFound
from portal.rbac.policy import permits

DRAFT, APPROVED, LIVE, RETIRED = (s.value for s in VersionState)


@dataclass(frozen=True)
class Transition:
    """What one lifecycle step changed."""

    adapter_id: str
    action: str
    version: int | None
    live_before: int | None
    live_after: int | None

    def to_dict(self) -> dict[str, object]:
        return {"adapter_id": self.adapter_id, "action": self.action, "version": self.version,
                "live_before": self.live_before, "live_after": self.live_after}


class Lifecycle:
    def __init__(self, four_eyes: bool = True) -> None:
        self.four_eyes = four_eyes

    def approve(self, session: Session, operator: Operator, actor: Actor, adapter_id: str,
                version: int) -> Transition:
        if not permits(operator.permissions, APPROVE):
            raise PermissionDenied("approving adapter versions needs the permission 'adapters.approve'")
        row = stored_adapter(session, adapter_id)
        target = self._version(session, adapter_id, version)
        if target.state != DRAFT:
            raise Conflict(f"version {version} of {adapter_id!r} is {target.state}; only a draft can be approved")
        if self.four_eyes and target.changed_by == operator.username:
            raise PermissionDenied(f"version {version} of {adapter_id!r} was written by you; "
                                   "someone else must approve it (four-eyes rule)")
        target.state, target.approved_by, target.approved_at = APPROVED, operator.username, clock.utcnow()
        return self._transition(session, actor, row, "approve", version, before={"state": DRAFT},
                                after={"state": APPROVED, "approved_by": operator.username})

    def promote(self, session: Session, operator: Operator, actor: Actor, adapter_id: str, version: int,
                action: str = "promote") -> Transition:
        require_reader(operator)
        row = stored_adapter(session, adapter_id)
        require_owner(operator, row.owner, "take live adapters")
        target = self._version(session, adapter_id, version)
        if target.state == LIVE:
            raise Conflict(f"version {version} of {adapter_id!r} is already live")
        if target.state != APPROVED:
            raise Conflict(f"version {version} of {adapter_id!r} is {target.state}; "
                           "only an approved version can go live")
        live_before = row.live_version
        if live_before is not None:
            self._version(session, adapter_id, live_before).state = APPROVED
        target.state, row.live_version = LIVE, version
        if row.shadow_version == version:
            row.shadow_version = None  # the candidate is the live version now: nothing left to compare
        return self._transition(session, actor, row, action, version, before={"live_version": live_before},
                                after={"live_version": version}, live_before=live_before)

    def rollback(self, session: Session, operator: Operator, actor: Actor, adapter_id: str,
                 to_version: int | None = None) -> Transition:
        """Promote ``to_version``, or the newest approved version older than the live one."""
        require_reader(operator)
        row = stored_adapter(session, adapter_id)
        require_owner(operator, row.owner, "roll back adapters")
        if to_version is None:
            query = select(AdapterVersion.version).where(AdapterVersion.adapter_id == adapter_id,
                                                         AdapterVersion.state == APPROVED)
            if row.live_version is not None:
                query = query.where(AdapterVersion.version < row.live_version)
            to_version = session.scalar(query.order_by(AdapterVersion.version.desc()).limit(1))
            if to_version is None:
                raise Conflict(f"{adapter_id!r} has no earlier approved version to roll back to")
        return self.promote(session, operator, actor, adapter_id, to_version, action="rollback")

    def retire(self, session: Session, operator: Operator, actor: Actor, adapter_id: str,
               version: int | None = None) -> Transition:
        """Retire ``version`` (default: the live one); a retired live version takes the system offline."""
        require_reader(operator)
        row = stored_adapter(session, adapter_id)
        require_owner(operator, row.owner, "retire adapters")
        version = row.live_version if version is None else version
        if version is None:
            raise Conflict(f"{adapter_id!r} has no live version; name the version to retire")
        target = self._version(session, adapter_id, version)
        if target.state == RETIRED:
            raise Conflict(f"version {version} of {adapter_id!r} is already retired")
        before_state, live_before = target.state, row.live_version
        target.state = RETIRED
        if row.live_version == version:
            row.live_version = None
        if row.shadow_version == version:
            row.shadow_version = None
        return self._transition(session, actor, row, "retire", version,
                                before={"state": before_state, "live_version": live_before},
                                after={"state": RETIRED, "live_version": row.live_version}, live_before=live_before)

    def shadow(self, session: Session, operator: Operator, actor: Actor, adapter_id: str,
               version: int | None) -> Transition:
        """Run ``version`` beside the live one on real lookups (``None``: stop)."""
        require_reader(operator)
        row = stored_adapter(session, adapter_id)
        require_owner(operator, row.owner, "run shadow versions of adapters")
        before = row.shadow_version
        if version is not None:
            target = self._version(session, adapter_id, version)
            if row.live_version is None:
                raise Conflict(f"{adapter_id!r} has no live version to compare a shadow run with")
            if target.state not in (DRAFT, APPROVED):
                raise Conflict(f"version {version} of {adapter_id!r} is {target.state}; "
                               "only a draft or approved version can run in shadow")
        row.shadow_version = version
        return self._transition(session, actor, row, "shadow" if version is not None else "unshadow", version,
                                before={"shadow_version": before}, after={"shadow_version": version},
                                live_before=row.live_version)

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _version(session: Session, adapter_id: str, version: int) -> AdapterVersion:
        row = session.scalar(select(AdapterVersion).where(AdapterVersion.adapter_id == adapter_id,
                                                          AdapterVersion.version == version))
        if row is None or row.change == "delete":
            raise ResourceNotFound(f"no version {version} of adapter {adapter_id!r}")
        return row

    @staticmethod
    def _transition(session: Session, actor: Actor, row: StoredAdapter, action: str, version: int | None,
                    before: dict[str, object], after: dict[str, object],
                    live_before: int | None = None) -> Transition:
        session.add(AdapterTransition(adapter_id=row.id, action=action, version=version,
                                      previous_version=live_before, actor=actor.username))
        record(session, actor, Event(action=f"adapter.{action}", target=row.id,
                                     details={"version": version, "before": before, "after": after}))
        session.flush()
        return Transition(adapter_id=row.id, action=action, version=version,
                          live_before=live_before if action != "approve" else row.live_version,
                          live_after=row.live_version)
