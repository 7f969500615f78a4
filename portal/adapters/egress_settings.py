"""The portal's guarded boundary, built once from its settings (``[egress]``, database, Redis, web server).

:func:`boundary_from_settings` is the one place the app turns settings into the
:class:`~portal.adapters.boundary.Boundary` every adapter is built under. The
portal's own services are found here: the database of ``database_url``, the
Redis of ``redis_url``, the web server addresses ``portal serve``/``portal demo``
put in ``serve_addresses``, and whatever admins add in ``[egress] own_addresses``.
Their host names are resolved once, when the boundary is built (bounded), and
are also refused by name.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from portal.adapters.boundary import DEFAULT_REGEX_BUDGET_S, Boundary, CredentialsProvider
from portal.adapters.egress import EgressPolicy, IPAddress, OwnAddress, is_ip_literal, parse_rules
from portal.adapters.egress_check import ResolutionFailed, resolve_bounded

if TYPE_CHECKING:  # pragma: no cover
    from portal.config import Settings

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379, "rediss": 6379}
_EVERY_INTERFACE = {"", "0.0.0.0", "::", "*"}


def boundary_from_settings(
    settings: Settings,
    own_addresses: Iterable[str] = (),
    *,
    credential_bindings: Mapping[str, str] | None = None,
    regex_budget_s: float | None = None,
    credentials: CredentialsProvider | None = None,
) -> Boundary:
    """The guarded boundary of the app: the egress policy of ``settings`` plus ``own_addresses`` (``host:port``).

    ``credentials`` is the app's service-account store (``None``: the environment); WSDLs are
    cached in ``<data_dir>/cache``. Both belong to this app's adapters only.
    """
    return Boundary(
        egress=policy_from_settings(settings, own_addresses),
        credential_bindings=dict(credential_bindings or {}),
        config_dir=Path(settings.adapters_dir).resolve(),
        regex_budget_s=DEFAULT_REGEX_BUDGET_S if regex_budget_s is None else regex_budget_s,
        guarded=True,
        credentials=credentials,
        wsdl_cache_dir=(Path(settings.data_dir) / "cache").resolve(),
    )


def policy_from_settings(settings: Settings, own_addresses: Iterable[str] = ()) -> EgressPolicy:
    """``[egress] allow`` as a policy that also refuses the portal's own services."""
    own: list[OwnAddress] = []
    database = _url_address(settings.resolved_database_url, "postgresql")
    if database is not None:
        own.append(_own("database", *database))
    redis = _url_address(settings.redis_url, "redis")
    if redis is not None:
        own.append(_own("Redis", *redis))
    for text in [*settings.serve_addresses, *settings.egress_own_addresses, *own_addresses]:
        own.append(_own("web server", *parse_host_port(text)))
    local = _local_addresses() if any(o.every_local for o in own) else frozenset()
    return EgressPolicy(parse_rules(settings.egress_allow), tuple(_dedupe(own)), local)


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5000"``, ``"[::1]:5000"``, ``":5000"`` (every interface); ``ValueError`` with a reason."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r} is not host:port (e.g. \"127.0.0.1:5000\" or \"[::1]:5000\")")
    if ":" in host and not (host.startswith("[") and host.endswith("]") and is_ip_literal(host)):
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. \"[::1]:5000\"")
    return host.strip("[]"), int(port_text)


def _url_address(url: str, scheme_family: str) -> tuple[str, int] | None:
    """(host, port) of a ``postgresql…://`` or ``redis(s)://`` URL; ``None`` for SQLite, sockets or nothing."""
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if not scheme.startswith(scheme_family):
        return None
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # several hosts or an odd port: the first host is the one we can name
        netloc = parts.netloc.rpartition("@")[2].split(",", 1)[0]
        host, _, port_text = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
        port = int(port_text) if port_text.isdigit() else None
    if not host:
        return None  # a Unix socket: adapters cannot connect to that over TCP
    return host.strip("[]"), port or DEFAULT_PORTS.get(scheme, 0)


def _own(what: str, host: str, port: int) -> OwnAddress:
    if host in _EVERY_INTERFACE:
        return OwnAddress(what, "", port, frozenset(), every_local=True)
    if is_ip_literal(host):
        address = ipaddress.ip_address(host.split("%", 1)[0])
        mapped = getattr(address, "ipv4_mapped", None)
        return OwnAddress(what, host, port, frozenset({mapped or address}))
    try:
        resolved = resolve_bounded(host, port)
    except ResolutionFailed as exc:  # still refused by name; adapters reaching it by address go unnoticed
        log.warning("the portal's own %s %s:%s: %s", what, host, port, exc)
        resolved = []
    return OwnAddress(what, host, port, frozenset(_addresses(resolved)))


def _addresses(texts: Iterable[str]) -> set[IPAddress]:
    found: set[IPAddress] = set()
    for text in texts:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        found.add(getattr(address, "ipv4_mapped", None) or address)
    return found


def _local_addresses() -> frozenset[IPAddress]:
    """This machine's addresses as its host name resolves (best effort; loopback is always covered)."""
    try:
        return frozenset(_addresses(resolve_bounded(socket.gethostname(), 0)))
    except ResolutionFailed as exc:
        log.info("own host name does not resolve (%s); a web server on every interface is refused on loopback only",
                 exc)
        return frozenset()


def _dedupe(own: list[OwnAddress]) -> list[OwnAddress]:
    seen: set[tuple[str, str, int]] = set()
    unique = []
    for entry in own:
        key = (entry.what, entry.host.lower(), entry.port)
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique
