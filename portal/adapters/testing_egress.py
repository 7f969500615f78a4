"""Destinations every kind must refuse under an egress policy, for the contract kit (:mod:`portal.adapters.testing`).

Each :class:`EgressCase` names a host the document points at instead of the
suite's loopback server, the ``[egress]`` rules (and the portal's own services)
in force, and what the refusal must say. The kit checks each case twice: at
registration (a guarded build raises ``ConfigError`` naming the document key)
and at connect time (the lookup is ``unavailable`` and the server never sees a
connection).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.adapters.egress import EgressPolicy, OwnAddress, parse_rules
from portal.adapters.testing_servers import HOST

Rules = Callable[[int], list[dict[str, Any]]]


def everywhere(port: int) -> list[dict[str, Any]]:
    """Every address and port: must still not cover loopback, link-local and metadata addresses."""
    return [{"name": "everywhere", "cidrs": ["0.0.0.0/0", "::/0"]}]


def all_loopback_ports(port: int) -> list[dict[str, Any]]:
    """Loopback on every port, listed explicitly: must still not cover the portal's own services."""
    return [{"hosts": [HOST], "ports": "1-65535"}]


def _no_own(port: int) -> tuple[OwnAddress, ...]:
    return ()


def _own(what: str) -> Callable[[int], tuple[OwnAddress, ...]]:
    return lambda port: (OwnAddress(what, HOST, port, frozenset({ipaddress.ip_address(HOST)})),)


@dataclass(frozen=True)
class EgressCase:
    id: str
    host: str  # what the document names instead of 127.0.0.1
    rules: Rules  # the [egress] allow rules, given the suite server's port
    says: Callable[[int], tuple[str, ...]]  # parts of the refusal's reason, given the port
    own: Callable[[int], tuple[OwnAddress, ...]] = _no_own

    def policy(self, port: int) -> EgressPolicy:
        return EgressPolicy(parse_rules(self.rules(port)), self.own(port))

    def check_reason(self, text: str | None, port: int) -> None:
        assert text and text.startswith("refused by the egress policy: "), text
        for part in self.says(port):
            assert part in text, f"{part!r} not in {text!r}"


EGRESS_CASES: tuple[EgressCase, ...] = (
    EgressCase("loopback_port_not_allowed", HOST, lambda port: [{"hosts": [HOST], "ports": str(_other(port))}],
               lambda port: (f"{HOST} is a loopback address, and no [egress] rule lists it with port {port}",)),
    EgressCase("no_rule", HOST, lambda port: [],
               lambda port: (f"{HOST} is a loopback address",)),
    EgressCase("loopback_under_a_broad_rule", HOST, everywhere,
               lambda port: (f"{HOST} is a loopback address",)),
    EgressCase("metadata_address", "169.254.169.254", everywhere,
               lambda port: ("169.254.169.254 is a cloud metadata address",)),
    EgressCase("link_local", "169.254.7.7", everywhere,
               lambda port: ("169.254.7.7 is a link-local address",)),
    EgressCase("unspecified", "0.0.0.0", everywhere,
               lambda port: ("0.0.0.0 is an unspecified address",)),
    EgressCase("portal_database_port", HOST, all_loopback_ports,
               lambda port: (f"{HOST}:{port} is the portal's own database",), _own("database")),
    EgressCase("portal_redis_port", HOST, all_loopback_ports,
               lambda port: (f"{HOST}:{port} is the portal's own Redis",), _own("Redis")),
    EgressCase("name_resolving_to_loopback", "localhost", everywhere,
               lambda port: ("localhost resolves to ", "a loopback address")),
    EgressCase("ipv6_loopback", "::1", everywhere,
               lambda port: ("::1 is a loopback address",)),
    EgressCase("ipv4_mapped_loopback", "::ffff:127.0.0.1", everywhere,
               lambda port: ("::ffff:127.0.0.1 is a loopback address (IPv4-mapped 127.0.0.1)",)),
    EgressCase("ipv6_link_local", "fe80::1", everywhere,
               lambda port: ("fe80::1 is a link-local address",)),
)


def _other(port: int) -> int:
    return port + 1 if port < 65535 else port - 1


def retarget(document: Any, host: str) -> Any:
    """``document`` with the suite server's host replaced by ``host`` (in URLs and in a ``host`` key)."""
    url_host = f"[{host}]" if ":" in host else host

    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            if key == "host" and value == HOST:
                return host
            return value.replace(f"://{HOST}:", f"://{url_host}:")
        return value

    return walk(document)
