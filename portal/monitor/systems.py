"""The monitored systems as the monitor's modules see them: id, name, owning team, probe settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from portal.adapters.base import Adapter


@dataclass(frozen=True)
class SystemInfo:
    id: str
    name: str
    owner: str | None  # the owning team (or username), whose members get the system's alerts
    enabled: bool = True


def systems_of(adapters: Iterable[Adapter]) -> dict[str, SystemInfo]:
    """id -> :class:`SystemInfo` for every adapter in force, in the catalogue's order."""
    return {a.id: SystemInfo(a.id, a.config.name, a.config.owner, a.config.enabled) for a in adapters}
