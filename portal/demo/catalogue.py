"""The twelve simulated back-office systems: who they are and where they listen.

This is the single list the rest of ``portal.demo`` agrees on; three systems per
protocol so every adapter kind is exercised. The ports here are the *fixed demo
ports* of the README (``portal demo``, ``portal backoffice``, ``config/adapters/``).
A back office may also listen on ports the kernel picks (the tests, a second
demo); :class:`Addresses` says where one really listens, and the adapter files
and the egress rule are derived from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Protocol = Literal["soap", "xml", "html", "socket"]

#: Socket systems speak raw TCP on ``port``; their screens need HTTP, so they
#: serve them on ``port + UI_PORT_OFFSET``.
UI_PORT_OFFSET = 100


@dataclass(frozen=True)
class SystemSpec:
    """One simulated system. ``protocol`` is the adapter kind that talks to it."""

    id: str
    name: str
    protocol: Protocol
    port: int
    ui_port: int
    description: str


def _spec(id: str, name: str, protocol: Protocol, port: int, description: str) -> SystemSpec:
    ui_port = port + UI_PORT_OFFSET if protocol == "socket" else port
    return SystemSpec(id, name, protocol, port, ui_port, description)


SYSTEMS: tuple[SystemSpec, ...] = (
    _spec("boss", "BOSS billing & CRM", "soap", 8201,
          "SOAP 1.1 GetSubscriber: holder, plan, balance and six months of bills"),
    _spec("payments", "Payments & top-ups", "soap", 8202,
          "SOAP 1.1 GetPayments: last top-up, auto top-up and payment history"),
    _spec("roaming", "Roaming", "soap", 8203,
          "SOAP 1.1 GetRoamingStatus: roaming switch, zone, current country, daily cap"),
    _spec("vas", "Value-added services", "xml", 8204,
          "XML over HTTP: value-added service subscriptions"),
    _spec("portability", "Number portability", "xml", 8205,
          "XML over HTTP: porting status, donor and recipient operators"),
    _spec("wap", "WAP gateway", "xml", 8206,
          "XML over HTTP: APN, data switch, last session and usage"),
    _spec("loyalty", "Loyalty points", "html", 8207,
          "HTML page: tier, points, expiring points and point transactions"),
    _spec("complaints", "Complaint tickets", "html", 8208,
          "HTML page behind a form login: complaint tickets"),
    _spec("rbt", "Ring-back tone", "html", 8209,
          "HTML page in GBK: current ring-back tone and tone library"),
    _spec("smsc", "SMS centre", "socket", 8210,
          "TCP, one line per request and answer: SMS counters and history"),
    _spec("mms", "MMS centre", "socket", 8211,
          "TCP, 4-byte length-prefixed GBK key=value records: MMS counters"),
    _spec("mail", "Mail", "socket", 8212,
          "TCP, fixed-width 80-byte records: mailbox address, quota and usage"),
)

#: The same tuple under the name the rest of the portal uses.
CATALOGUE = SYSTEMS

SYSTEM_IDS: tuple[str, ...] = tuple(s.id for s in SYSTEMS)


def get_spec(system_id: str) -> SystemSpec:
    """The spec of ``system_id``; ``KeyError`` naming the known ids otherwise."""
    for spec in SYSTEMS:
        if spec.id == system_id:
            return spec
    raise KeyError(f"no simulated system {system_id!r} (known: {', '.join(SYSTEM_IDS)})")


@dataclass(frozen=True)
class Addresses:
    """Where a back office listens: what its adapter files and the egress rule must name.

    ``ports``: system id -> data port; ``ui_ports``: system id -> screen port (the
    data port for HTTP systems); ``control_port``: the fault-control endpoint, None
    when the back office serves none.
    """

    host: str
    ports: Mapping[str, int]
    ui_ports: Mapping[str, int]
    control_port: int | None = None

    @classmethod
    def fixed(cls, host: str = "127.0.0.1", control_port: int | None = None) -> Addresses:
        """The README's ports: where ``portal backoffice`` and a first ``portal demo`` listen."""
        return cls(host, {s.id: s.port for s in SYSTEMS}, {s.id: s.ui_port for s in SYSTEMS}, control_port)

    def egress_allow(self) -> list[dict[str, object]]:
        """The ``[egress] allow`` rule for these systems: their ports on ``host`` and nothing else there.

        The systems' data ports and the socket systems' screens; not the fault-control
        port, not the portal's own. ``portal demo`` and the tests use it.
        """
        return egress_allow(self.host, [*self.ports.values(), *self.ui_ports.values()])


def egress_allow(host: str = "127.0.0.1", ports: Iterable[int] | None = None) -> list[dict[str, object]]:
    """The ``[egress] allow`` rule naming ``ports`` (default: the fixed demo ports) on ``host``, as ranges."""
    chosen = sorted(set(ports) if ports is not None else {p for s in SYSTEMS for p in (s.port, s.ui_port)})
    ranges: list[list[int]] = []
    for port in chosen:
        if ranges and ranges[-1][1] == port - 1:
            ranges[-1][1] = port
        else:
            ranges.append([port, port])
    text = ",".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)
    return [{"name": "simulated back office", "hosts": [host], "ports": text}]
