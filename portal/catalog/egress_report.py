"""The egress policy in force as admins read it: shared by ``/admin/egress`` and ``GET /api/v1/egress``.

Engine code: the boundary in, a JSON-able document out (:class:`portal.catalog.egress_schemas.EgressReport`).
"""

from __future__ import annotations

from typing import Any

from portal.adapters.boundary import Boundary, describe


def egress_report(boundary: Boundary) -> dict[str, Any]:
    """``{"enforced", "egress": {...} or None, "boundary": {...}}`` of the boundary every adapter runs in."""
    policy = boundary.egress
    return {
        "enforced": boundary.guarded and policy is not None,
        "egress": policy.describe() if policy is not None else None,
        "boundary": describe(boundary),
    }
