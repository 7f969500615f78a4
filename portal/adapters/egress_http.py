"""The egress policy inside requests/urllib3: every new HTTP(S) connection is checked where it is made.

:class:`GuardedHTTPAdapter` (mounted by :func:`portal.adapters.httpclient.make_session`)
gives urllib3 connection classes whose ``_new_conn`` asks
:func:`~portal.adapters.boundary.active_scope` which adapter is fetching on this
thread. Under a boundary with an egress policy the host is resolved, every
address checked (:meth:`~portal.adapters.egress.EgressPolicy.resolve_and_check`)
and the socket connected to the checked address itself, so a DNS answer cannot
change in between. Because the check sits in the connection, it covers every
fetch an adapter makes: the page, a login form, an XSD, a WSDL and its imports,
SOAP calls, and each redirect to a new host. TLS is untouched: SNI and the
certificate check still use the URL's host name.

Outside any lookup (no active scope) or under the unrestricted boundary, the
connection is made exactly as urllib3 makes it. A refusal is raised as
:class:`~portal.adapters.egress.EgressRefused`, which no layer of requests or
urllib3 catches, so it reaches :func:`portal.adapters.httpclient.request` as is.
"""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING, Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from portal.adapters.boundary import active_scope
from portal.adapters.egress import open_connection

if TYPE_CHECKING:
    _ConnectionBase = HTTPConnection  # what the mixin is mixed into, for the type checker
else:
    _ConnectionBase = object


class _GuardedConnectionMixin(_ConnectionBase):
    """``_new_conn`` through the egress policy of the adapter running on this thread."""

    def _new_conn(self) -> socket.socket:
        scope = active_scope()
        policy = scope.boundary.egress if scope is not None else None
        if scope is None or policy is None:
            return super()._new_conn()
        conn = self
        try:
            destinations = policy.resolve_and_check(conn._dns_host, conn.port, scope.owner)
            # urllib3 (>= 2) resolved its default timeout to socket.getdefaulttimeout() in __init__.
            sock = open_connection(destinations, conn.timeout, conn.socket_options, conn.source_address)
        except socket.gaierror as exc:
            raise NameResolutionError(conn.host, conn, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            ) from exc
        except OSError as exc:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedHTTPAdapter(HTTPAdapter):
    """requests' adapter whose connection pools make guarded connections."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
