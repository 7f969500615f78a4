"""The egress policy: where adapters may connect, as admins decided in ``[egress]`` (docs/adapters.md).

Deny by default. An adapter may reach a destination (host, port) only when a
rule of ``egress_allow`` allows it::

    [[egress.allow]]
    name = "crm"                          # optional; messages say "rule 1" otherwise
    hosts = ["crm.example.internal", "10.20.0.7", "*.billing.example.internal"]
    cidrs = ["10.30.0.0/16"]
    ports = "8200-8212,8310"              # or [8200, "8300-8310"]; left out: every port
    teams = ["billing-team"]              # optional: only adapters owned by these teams

Some destinations are refused even when a broad rule covers them: loopback,
link-local, cloud metadata and unspecified addresses (IPv4 and IPv6, also
written IPv4-mapped), and the portal's own database, Redis and web server.
Only a rule that names such an address itself (an IP, or a CIDR inside the
special range) together with its port allows it (for the portal's own services:
the exact address and the port by itself, not in a range); ``0.0.0.0/0`` never
does, and neither does a host *name*, because names are resolved by DNS that an
owner may control.

The policy is checked when a document is registered
(:func:`portal.adapters.egress_check.check_document`) and again at every
connect, after name resolution (:meth:`EgressPolicy.resolve_and_check`): every
address a name resolves to must be allowed, and the connection goes to the
address that was checked, never to a second resolution (no DNS rebinding).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from portal.errors import BackendProtocolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: What :meth:`EgressPolicy.resolve_and_check` returns: ``(family, sockaddr)`` pairs ready for ``connect``.
Destination = tuple[int, tuple[Any, ...]]

RULE_KEYS = frozenset({"name", "hosts", "cidrs", "ports", "teams"})
_HOST_NAME = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")
_PORT_RANGE = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$")


def _net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


#: Refused unless a rule lists them explicitly; the most specific entry first (it names the reason).
REFUSED: tuple[tuple[IPNetwork, str], ...] = (
    (_net("169.254.169.254/32"), "a cloud metadata address"),
    (_net("fd00:ec2::254/128"), "a cloud metadata address"),
    (_net("100.100.100.200/32"), "a cloud metadata address"),
    (_net("127.0.0.0/8"), "a loopback address"),
    (_net("::1/128"), "a loopback address"),
    (_net("169.254.0.0/16"), "a link-local address"),
    (_net("fe80::/10"), "a link-local address"),
    (_net("0.0.0.0/8"), "an unspecified address"),  # connecting to 0.0.0.0 reaches this host on Linux
    (_net("::/128"), "an unspecified address"),
)
#: IPv6 forms that carry an IPv4 address which some stacks (or a NAT64 gateway) reach instead.
_NAT64 = _net("64:ff9b::/96")


class EgressRefused(BackendProtocolError):
    """A connection the egress policy does not allow; raised before anything connects.

    An ``error`` result, not ``unavailable``: the system may be up, the document
    is what is wrong, and asking again (a retry) would be refused again.
    """

    code = "egress_refused"
    title = "Refused by the egress policy"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"refused by the egress policy: {reason}")


# -- rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EgressRule:
    """One ``[[egress.allow]]`` entry, parsed."""

    label: str  # "rule 2" or 'rule "crm"': what messages call it
    names: frozenset[str] = frozenset()  # exact host names, lower case
    suffixes: tuple[str, ...] = ()  # from "*.example.internal": ".example.internal"
    networks: tuple[IPNetwork, ...] = ()  # from cidrs and IP literals in hosts
    ports: tuple[tuple[int, int], ...] | None = None  # None: every port (never "explicit")
    teams: frozenset[str] = frozenset()  # empty: every owner
    hosts_written: tuple[str, ...] = ()  # as the admin wrote them, for the admin page
    cidrs_written: tuple[str, ...] = ()

    def applies_to(self, owner: str | None) -> bool:
        return not self.teams or (owner is not None and owner in self.teams)

    def allows_port(self, port: int) -> bool:
        return self.ports is None or any(low <= port <= high for low, high in self.ports)

    def names_port(self, port: int) -> bool:
        """The port is listed explicitly (what a special destination needs)."""
        return self.ports is not None and self.allows_port(port)

    def names_port_alone(self, port: int) -> bool:
        """The port is listed by itself, not inside a range (what the portal's own services need)."""
        return self.ports is not None and (port, port) in self.ports

    def matches_name(self, host: str | None) -> bool:
        return host is not None and (host in self.names or any(host.endswith(s) for s in self.suffixes))

    def matches_address(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)

    def lists_inside(self, ip: IPAddress, special: IPNetwork) -> bool:
        """The rule names ``ip`` by an address or network that lies inside ``special`` (not a broad one)."""
        return any(
            net.version == special.version and ip in net and net.subnet_of(special)  # type: ignore[arg-type]
            for net in self.networks
        )


def parse_rules(raw: Any) -> tuple[EgressRule, ...]:
    """``egress_allow`` as rules; ``ValueError`` with a reason people can act on (``rule 2: ports: ...``)."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise ValueError("must be a list of rules like { hosts = [...], cidrs = [...], ports = \"8200-8212\" }")
    return tuple(_parse_rule(entry, index) for index, entry in enumerate(raw, start=1))


def _parse_rule(entry: Any, index: int) -> EgressRule:
    where = f"rule {index}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: must be a table with hosts, cidrs, ports and teams")
    unknown = sorted(set(entry) - RULE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (use {', '.join(sorted(RULE_KEYS))})")
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"{where}: name must be a non-empty string")
    label = f'rule "{name.strip()}"' if name else where
    names: set[str] = set()
    suffixes: list[str] = []
    networks: list[IPNetwork] = []
    hosts = _strings(entry.get("hosts"), f"{where}: hosts")
    cidrs = _strings(entry.get("cidrs"), f"{where}: cidrs")
    for host in hosts:
        ip = _ip_literal(host)
        if ip is not None:
            networks.append(ipaddress.ip_network(ip))
            continue
        name_text = host.strip().lower().rstrip(".")
        if not _HOST_NAME.match(name_text):
            raise ValueError(f"{where}: hosts: {host!r} is neither an IP address nor a host name")
        if name_text.startswith("*."):
            suffixes.append(name_text[1:])
        else:
            names.add(name_text)
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr.strip())
        except ValueError as exc:
            raise ValueError(f"{where}: cidrs: {cidr!r} is not a network ({exc})") from None
        mapped = network.network_address.ipv4_mapped if network.version == 6 else None
        if mapped is not None and network.prefixlen >= 96:  # ::ffff:10.0.0.0/104 is 10.0.0.0/8
            network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
        networks.append(network)
    if not (names or suffixes or networks):
        raise ValueError(f"{where}: needs hosts or cidrs")
    ports = _parse_ports(entry["ports"], where) if "ports" in entry else None
    teams = frozenset(team.strip() for team in _strings(entry.get("teams"), f"{where}: teams") if team.strip())
    return EgressRule(label, frozenset(names), tuple(suffixes), tuple(networks), ports, teams,
                      tuple(h.strip() for h in hosts), tuple(c.strip() for c in cidrs))


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{where}: must be a list of strings")
    return list(value)


def _parse_ports(value: Any, where: str) -> tuple[tuple[int, int], ...]:
    """``"8200-8212,8310"``, ``8310`` or ``[8200, "8300-8310"]`` as inclusive ranges."""
    items: list[Any] = list(value) if isinstance(value, (list, tuple)) else [value]
    ranges: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"{where}: ports: {item!r} is not a port")
        parts = [item] if isinstance(item, int) else str(item).split(",")
        for part in parts:
            if isinstance(part, int):
                low = high = part
            else:
                match = _PORT_RANGE.match(part)
                if match is None:
                    raise ValueError(f"{where}: ports: {part.strip()!r} is not a port or a range like 8200-8212")
                low = int(match.group(1))
                high = int(match.group(2) or low)
            if not (1 <= low <= 65535 and 1 <= high <= 65535):
                shown = str(low) if low == high else f"{low}-{high}"
                raise ValueError(f"{where}: ports: {shown} is outside 1-65535")
            if low > high:
                raise ValueError(f"{where}: ports: {low}-{high} runs backwards")
            ranges.append((low, high))
    if not ranges:
        raise ValueError(f"{where}: ports: must name at least one port (leave the key out for every port)")
    return tuple(ranges)


def ports_text(ports: tuple[tuple[int, int], ...] | None) -> str:
    if ports is None:
        return "every port"
    return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in ports)


# -- addresses ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a pure function of the text: caching it cannot outlive a DNS answer
def _ip_literal(text: str) -> IPAddress | None:
    """The address ``text`` spells (brackets and an IPv6 zone allowed), IPv4-mapped forms as IPv4."""
    candidate = text.strip().strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    return _unmapped(ip)


def is_ip_literal(host: str) -> bool:
    """``host`` is an address, not a name (nothing to resolve)."""
    return _ip_literal(host) is not None


def _unmapped(ip: IPAddress) -> IPAddress:
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address leads to."""
    if ip.version != 6:
        return None
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


@functools.lru_cache(maxsize=4096)  # pure, and asked at every connection
def special_range(ip: IPAddress) -> tuple[IPNetwork, str] | None:
    """The refused range ``ip`` falls in, with what it is (``a loopback address``), or ``None``."""
    for network, what in REFUSED:
        if ip.version == network.version and ip in network:
            return network, what
    return None


def host_text(host: str, port: int | None = None) -> str:
    shown = f"[{host}]" if ":" in host and port is not None else host
    return shown if port is None else f"{shown}:{port}"


@dataclass(frozen=True)
class OwnAddress:
    """One of the portal's own services: adapters must not reach it (``what``: ``database``, ``Redis``...)."""

    what: str
    host: str  # as configured: a name, an IP, or "" / "0.0.0.0" / "::" for every local address
    port: int
    addresses: frozenset[IPAddress] = frozenset()  # what ``host`` resolved to when the policy was built
    every_local: bool = False  # listens on every interface: any loopback or local address, this port

    def matches(self, name: str | None, ip: IPAddress | None, port: int, local: frozenset[IPAddress]) -> bool:
        if port != self.port:
            return False
        if name is not None and name == self.host.lower():
            return True
        if ip is None:
            return False
        if ip in self.addresses:
            return True
        return self.every_local and (ip.is_loopback or ip in local)

    def describe(self) -> dict[str, Any]:
        return {"what": self.what, "host": self.host or "*", "port": self.port,
                "addresses": sorted(str(a) for a in self.addresses), "every_local_address": self.every_local}


# -- the policy --------------------------------------------------------------------------


@dataclass(frozen=True)
class EgressPolicy:
    """The admins' rules plus what is always refused; immutable, shared by every adapter and thread."""

    rules: tuple[EgressRule, ...] = ()
    own: tuple[OwnAddress, ...] = ()
    local_addresses: frozenset[IPAddress] = frozenset()  # this machine's own interface addresses

    @classmethod
    def from_settings(cls, allow: Any, own: Iterable[OwnAddress] = (),
                      local_addresses: Iterable[IPAddress] = ()) -> EgressPolicy:
        return cls(parse_rules(allow), tuple(own), frozenset(local_addresses))

    # -- registration ------------------------------------------------------------------

    def check(self, host: str, port: int, owner: str | None) -> None:
        """What can be decided without DNS; :class:`EgressRefused` when refused.

        An IP literal is decided completely. For a name, this refuses the portal's
        own services by name and a port/team no rule allows at all; the addresses
        the name resolves to are checked by :meth:`check_addresses` (registration)
        or :meth:`resolve_and_check` (connect).
        """
        ip = _ip_literal(host)
        if ip is not None:
            self._raise_if_refused(None, ip, port, owner, written=host)
            return
        name = _normal_name(host)
        for own in self.own:
            if own.matches(name, None, port, self.local_addresses) and not self._lists_own(own, name, None, port, owner):
                raise EgressRefused(f"{host_text(host, port)} is the portal's own {own.what}")
        if not any(rule.applies_to(owner) and rule.allows_port(port) for rule in self.rules):
            raise EgressRefused(self._no_rule(host_text(host, port), None, port, owner))

    def check_addresses(self, host: str, port: int, owner: str | None, addresses: Iterable[str]) -> None:
        """Every address ``host`` resolved to must be allowed."""
        name = None if _ip_literal(host) is not None else _normal_name(host)
        for text in addresses:
            ip = _ip_literal(text)
            if ip is None:
                raise EgressRefused(f"{host} resolved to {text!r}, which is not an IP address")
            self._raise_if_refused(name, ip, port, owner, written=host)

    # -- connect time ------------------------------------------------------------------

    def resolve_and_check(self, host: str, port: int, owner: str | None) -> list[Destination]:
        """Resolve ``host`` and check every address; the ``(family, sockaddr)`` to connect to, in order.

        Raises :class:`EgressRefused` if *any* address is refused (a name with one
        loopback record is refused as a whole), and ``socket.gaierror`` when the
        name does not resolve. Connect to what this returns; resolving again
        would let a DNS answer change between the check and the connect.
        """
        literal = _ip_literal(host)
        name = None if literal is not None else _normal_name(host)
        destinations: list[Destination] = []
        for family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(
            host.strip("[]"), port, socket.AF_UNSPEC, socket.SOCK_STREAM
        ):
            if family not in (socket.AF_INET, socket.AF_INET6):
                raise EgressRefused(f"{host} resolved to a non-IP address")
            ip = _ip_literal(str(sockaddr[0]))
            assert ip is not None  # getaddrinfo of AF_INET/AF_INET6 gives IP addresses
            self._raise_if_refused(name, ip, port, owner, written=host)
            if (family, sockaddr) not in destinations:
                destinations.append((family, sockaddr))
        return destinations

    # -- the decision ------------------------------------------------------------------

    def refusal(self, name: str | None, ip: IPAddress, port: int, owner: str | None,
                written: str | None = None) -> str | None:
        """Why ``ip``:``port`` is refused for an adapter of team ``owner``; ``None`` when allowed.

        ``name`` is the host name the address was resolved from (``None`` for an
        IP literal); ``written`` is the host as the document wrote it, for messages.
        """
        ip = _unmapped(ip)
        written = written or str(ip)
        for own in self.own:
            if own.matches(name, ip, port, self.local_addresses):
                if self._lists_own(own, name, ip, port, owner):
                    return None
                return f"{_endpoint(written, ip, name, port)} is the portal's own {own.what}"
        special = special_range(ip)
        if special is not None:
            network, what = special
            if any(r.applies_to(owner) and r.names_port(port) and r.lists_inside(ip, network) for r in self.rules):
                return None
            return f"{_address_is(written, ip, name, what)}, and no [egress] rule lists it with port {port}"
        embedded = _embedded_ipv4(ip)
        inner = special_range(embedded) if embedded is not None else None
        if inner is not None:  # a NAT64 or 6to4 form of a special IPv4 address: no rule allows that
            return f"{_address_is(written, ip, name, 'a route to ' + str(embedded))}, {inner[1]}"
        for rule in self.rules:
            if (rule.applies_to(owner) and rule.allows_port(port)
                    and (rule.matches_name(name) or rule.matches_address(ip))):
                return None
        return self._no_rule(_endpoint(written, ip, name, port), name, port, owner, ip)

    def _raise_if_refused(self, name: str | None, ip: IPAddress, port: int, owner: str | None,
                          written: str) -> None:
        reason = self.refusal(name, ip, port, owner, written)
        if reason is not None:
            raise EgressRefused(reason)

    def _lists_own(self, own: OwnAddress, name: str | None, ip: IPAddress | None, port: int,
                   owner: str | None) -> bool:
        """A rule names this very service: its exact address (or configured name) and its port by itself.

        A port range is not enough here: ``8000-9000`` on loopback is far more likely
        to catch the portal's own port by accident than to mean it.
        """
        for rule in self.rules:
            if not (rule.applies_to(owner) and rule.names_port_alone(port)):
                continue
            if ip is not None and any(
                net.num_addresses == 1 and ip.version == net.version and ip in net for net in rule.networks
            ):
                return True
            if own.host and _ip_literal(own.host) is None and own.host.lower() in rule.names:
                return True
        return False

    def _no_rule(self, shown: str, name: str | None, port: int, owner: str | None,
                 ip: IPAddress | None = None) -> str:
        whom = f"team {owner}" if owner else "adapters without an owner team"
        text = f"no [egress] rule allows {shown} for {whom}"
        for rule in self.rules:  # a near miss tells the admin which rule to widen
            if rule.matches_name(name) or (ip is not None and rule.matches_address(ip)):
                if not rule.allows_port(port):
                    return f"{text} ({rule.label} allows ports {ports_text(rule.ports)} only)"
                if not rule.applies_to(owner):
                    return f"{text} ({rule.label} is for {', '.join(sorted(rule.teams))} only)"
        return text

    # -- for admins --------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The rules, the always-refused ranges and the portal's own addresses, as the admin page shows them."""
        return {
            "default": "deny",
            "rules": [
                {"label": rule.label, "hosts": list(rule.hosts_written), "cidrs": list(rule.cidrs_written),
                 "ports": ports_text(rule.ports), "teams": sorted(rule.teams)}
                for rule in self.rules
            ],
            "refused": [{"network": str(network), "what": what} for network, what in REFUSED]
            + [{"network": "::ffff:0:0/96", "what": "IPv4-mapped forms of the addresses above"},
               {"network": f"{_NAT64}, 2002::/16", "what": "NAT64 and 6to4 forms of the addresses above"}],
            "own_addresses": [own.describe() for own in self.own],
        }


def _normal_name(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _endpoint(written: str, ip: IPAddress, name: str | None, port: int) -> str:
    """``127.0.0.1:6379``, ``[::1]:6379`` or, reached by name, ``localhost:6379 (127.0.0.1)``."""
    if name is not None:
        return f"{host_text(written.strip(), port)} ({ip})"
    return host_text(written.strip().strip("[]"), port)


def _address_is(written: str, ip: IPAddress, name: str | None, what: str) -> str:
    """``127.0.0.1 is a loopback address``, ``localhost resolves to 127.0.0.1, a loopback address``."""
    if name is not None:
        return f"{written.strip()} resolves to {ip}, {what}"
    shown = written.strip().strip("[]")
    if ip.version == 4 and ":" in shown:
        return f"{shown} is {what} (IPv4-mapped {ip})"
    return f"{ip} is {what}"


# -- connecting --------------------------------------------------------------------------


def open_connection(
    destinations: Sequence[Destination],
    timeout: float | None,
    socket_options: Iterable[tuple[int, int, Any]] | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """Connect to the first of ``destinations`` that accepts (what ``socket.create_connection`` does,
    minus the resolution: these are the addresses the policy checked)."""
    last: OSError | None = None
    for family, sockaddr in destinations:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            last = exc
            sock.close()
    raise last if last is not None else OSError("no address to connect to")
