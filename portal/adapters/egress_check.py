"""The egress policy at registration: every destination a document names, checked before it is kept.

:func:`check_document` runs when the loader builds an adapter inside a guarded
boundary (:func:`portal.adapters.registry.build_adapter`), for files and
registered documents alike. Each destination the kind declares
(:meth:`~portal.adapters.base.Adapter.egress_targets`: ``url``, ``login.url``,
``xsd``, ``wsdl``, ``host``...) is checked, host names are resolved (within
:data:`RESOLVE_WAIT_S`) and every address they resolve to must be allowed, so
the owner hears about a refusal when saving, with the key that caused it, not
as an error panel later. Connect time checks again (DNS answers change).
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

from portal.adapters.egress import EgressRefused, host_text, is_ip_literal
from portal.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from portal.adapters.base import Adapter

#: How long registration waits for one name to resolve (the loader must not hang on a dead resolver).
RESOLVE_WAIT_S = 2.0


class ResolutionFailed(Exception):
    """A host name did not resolve (or not in time); ``str()`` says which and why."""


def check_document(adapter: Adapter, source: str | None = None, *, wait_s: float = RESOLVE_WAIT_S) -> None:
    """Refuse (``ConfigError`` naming the key) any destination of ``adapter`` its boundary's egress policy refuses.

    A no-op when the adapter was built without an egress policy (a kind's own tests).
    """
    policy = adapter.boundary.egress
    if policy is None:
        return
    where = source or adapter.id
    owner = adapter.config.owner
    for key, host, port in adapter.egress_targets():
        if not host or not port:
            raise ConfigError(where, key, "names no host and port that the egress policy can check")
        if "{" in host or "}" in host:
            raise ConfigError(where, key, "the host must not depend on the customer ({...} in the host name)")
        try:
            policy.check(host, port, owner)
            if not is_ip_literal(host):
                policy.check_addresses(host, port, owner, resolve_bounded(host, port, wait_s))
        except EgressRefused as exc:
            raise ConfigError(where, key, exc.detail) from exc
        except ResolutionFailed as exc:
            raise ConfigError(
                where, key, f"refused by the egress policy: {exc}; every address a name resolves to is checked"
            ) from exc


def resolve_bounded(host: str, port: int, wait_s: float = RESOLVE_WAIT_S) -> list[str]:
    """The IP addresses ``host`` resolves to, waiting at most ``wait_s``; :class:`ResolutionFailed` otherwise.

    ``getaddrinfo`` has no timeout of its own, so it runs in a daemon thread that
    is simply left behind when the resolver hangs (it ends with the resolver's own timeout).
    """
    outcome: dict[str, object] = {}
    done = threading.Event()

    def resolve() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=resolve, name="egress-resolve", daemon=True).start()
    if not done.wait(wait_s):
        raise ResolutionFailed(f"{host_text(host, port)} did not resolve within {wait_s:g} s")
    error = outcome.get("error")
    if error is not None:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise ResolutionFailed(f"{host} cannot be resolved ({reason})")
    infos = outcome["infos"]
    addresses = [info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]  # type: ignore[attr-defined]
    if not addresses:
        raise ResolutionFailed(f"{host} resolves to no IP address")
    return addresses
