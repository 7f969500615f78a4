"""The adapter contract test kit: one pytest suite every kind must pass (issue 3, item 10).

A kind's test module subclasses :class:`AdapterContract`, says how its system
speaks (the hooks below) and which parts of the contract apply (capability
flags); pytest then runs the whole suite against tiny loopback servers the
suite starts itself — no simulated back office, no network::

    from portal.adapters.testing import AdapterContract, ContractData

    class TestMyKindContract(AdapterContract):
        kind = "mykind"
        transport = "http"                 # or "tcp"
        supports_tables = False

        def document(self, server):        # the kind's own keys, fields and tables
            return {"url": server.url + "/q/{customer}", "max_bytes": self.max_bytes,
                    "fields": {"plan": {"path": "...", "label": "Plan", "required": True},
                               "balance": {"path": "...", "label": "Balance"}}}

        def render(self, data: ContractData, doctype: str = "") -> bytes:
            ...                            # this system's answer carrying ``data``

        def render_not_found(self) -> bytes:
            ...

The contract: results are typed (:class:`SystemResult`, :class:`Status`,
strings or ``None`` in fields, lists of dicts of strings in tables, an ``int``
``elapsed_ms``, a short one-line ``error``); every failure is a status (refused
-> ``unavailable``, hang -> ``timeout`` within the budget plus
:attr:`AdapterContract.margin_s`, garbage -> ``error``, oversized -> ``error``,
unknown customer -> ``not_found``, a missing required field -> ``layout
changed: Plan not found``); a caller's shorter timeout is honoured; hostile
input is contained (billion laughs, external entities whose file contents must
never appear in any output, floods read no further than the limit, invalid
charsets); ``lookup`` never raises, also from many threads and for odd keys;
``close()`` releases every socket and thread the adapter opened.

Requires pytest (the ``test`` extra). The suite's own threads are named
``contract-*``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from portal.adapters import secrets
from portal.adapters.base import Adapter, Status, SystemResult
from portal.adapters.boundary import UNRESTRICTED, Boundary, building
from portal.adapters.config import parse_adapter_document
from portal.adapters.egress import EgressPolicy
from portal.adapters.egress_check import check_document
from portal.adapters.registry import build_adapter
from portal.adapters.testing_egress import EGRESS_CASES, EgressCase, retarget
from portal.adapters.testing_servers import (
    LOGIN_PATH,
    SESSION_COOKIE,
    THREAD_PREFIX,
    ContractHttpServer,
    ContractTcpServer,
    Delivery,
    Seen,
    free_port,
)
from portal.adapters.testing_support import (
    BOMB_DOCTYPE,
    BOMB_VALUE,
    CREDENTIALS,
    CREDENTIALS_NAME,
    CUSTOMER,
    GARBAGE,
    SCENARIOS,
    XXE_VALUE,
    ContractData,
    Nowhere,
    check_result,
    install_login,
    open_fds,
)

__all__ = [
    "BOMB_DOCTYPE",
    "CREDENTIALS_NAME",
    "CUSTOMER",
    "GARBAGE",
    "SCENARIOS",
    "AdapterContract",
    "ContractData",
    "Delivery",
    "Seen",
]  # fmt: skip


def contract_credentials(name: str) -> tuple[str, str] | None:
    """The kit's credentials lookup: the contract service account, else the environment."""
    if name.upper() == CREDENTIALS_NAME:
        return CREDENTIALS
    return secrets.environment_credentials(name)


class AdapterContract:
    """Subclass as ``Test<Kind>Contract``; every ``test_*`` method below then runs for the kind."""

    # -- what the subclass says about the kind ---------------------------------------------
    kind: ClassVar[str]
    transport: ClassVar[Literal["http", "tcp"]] = "http"
    adapter_class: ClassVar[type[Adapter] | None] = None  # for a kind not (yet) registered as an entry point
    content_type: ClassVar[str] = "text/xml; charset=utf-8"  # of HTTP answers

    supports_tables: ClassVar[bool] = True  # the document declares table ``bills`` (columns month, amount)
    supports_not_found: ClassVar[bool] = True  # render_not_found() is meaningful
    supports_login: ClassVar[bool] = False  # the document logs in with credentials CONTRACT at server.url + /login
    parses_xml: ClassVar[bool] = False  # hostile XML must end in ``error``, not merely be contained
    sends_correlation_id: ClassVar[bool | None] = None  # default: True for http

    timeout_s: ClassVar[float] = 1.0  # the document's timeout_s
    margin_s: ClassVar[float] = 0.35  # how much later than its budget a lookup may return
    max_bytes: ClassVar[int] = 100_000  # the document must limit answers to this
    flood_factor: ClassVar[int] = 200  # an oversized answer is this many times max_bytes

    # -- hooks -----------------------------------------------------------------------------

    def document(self, server: Any) -> dict[str, Any]:
        """The kind's keys plus ``fields`` (``plan``: label "Plan", required; ``balance``: label
        "Balance") and, with :attr:`supports_tables`, ``tables.bills`` (columns ``month``,
        ``amount``), pointing at ``server.url`` (``http://127.0.0.1:<port>``; for tcp use
        ``server.port``). ``id``, ``name``, ``kind`` and ``timeout_s`` are filled in."""
        raise NotImplementedError

    def render(self, data: ContractData, doctype: str = "") -> bytes:
        """This system's answer carrying ``data``; ``doctype`` (when given) goes before the root."""
        raise NotImplementedError

    def render_not_found(self) -> bytes:
        raise NotImplementedError

    def login_page(self) -> bytes:
        """The page the system shows instead of data until the adapter logs in (supports_login)."""
        raise NotImplementedError

    def static_routes(self, server: Any) -> dict[str, tuple[str, bytes]]:
        """GET path -> (content type, body) always served as is, whatever the scenario (e.g. a WSDL)."""
        return {}

    def request_complete(self, data: bytes) -> bool:
        """tcp only: whether ``data`` holds one whole request (default: a line)."""
        return b"\n" in data

    def oversized(self, size: int) -> Delivery:
        """A flood of ``size`` bytes; the default repeats the start of the ok answer with no end in sight.
        A length-prefixed protocol announces the flood in its prefix (``Delivery.prefix``)."""
        return Delivery(self.render(ContractData())[:64] or b"A", mode="stream", stream_bytes=size)

    # -- the scenarios ---------------------------------------------------------------------

    def delivery(self, scenario: str, seen: Seen, server: Any) -> Delivery:
        """How the system answers ``seen`` in ``scenario``; override to adapt one case."""
        ok = self.render(ContractData())
        if scenario == "ok":
            return Delivery(ok)
        if scenario == "not_found":
            return Delivery(self.render_not_found())
        if scenario == "drift":
            return Delivery(self.render(ContractData(plan=None)))
        if scenario == "garbage":
            return Delivery(GARBAGE, mode="close", content_type="application/octet-stream")
        if scenario == "oversized":
            return self.oversized(self.max_bytes * self.flood_factor)
        if scenario in ("hang", "drip", "reset"):
            return Delivery(ok, mode=scenario)
        if scenario == "billion_laughs":
            return Delivery(self.render(ContractData(plan=BOMB_VALUE), doctype=BOMB_DOCTYPE), mode="close")
        if scenario == "xxe":
            return Delivery(self.render(ContractData(plan=XXE_VALUE), doctype=self.xxe_doctype), mode="close")
        if scenario == "invalid_bytes":
            return Delivery(ok.replace(b"Gold 88", b"Gold \xff\xfe\xc3\x28 88"), mode="close")
        if scenario == "unknown_charset":
            return Delivery(ok, content_type="text/xml; charset=x-no-such-charset")
        if scenario == "login":
            if f"{SESSION_COOKIE}={server.session}" in seen.headers.get("Cookie", ""):
                return Delivery(ok)
            return Delivery(self.login_page(), content_type="text/html; charset=utf-8")
        raise ValueError(f"unknown scenario {scenario!r}")

    # -- fixtures --------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _contract_setup(self, tmp_path: Path) -> Iterator[None]:
        self._servers: list[Any] = []
        self._adapters: list[Adapter] = []
        self._server_of: dict[int, Any] = {}
        marker = tmp_path / "contract-secret.txt"
        self.secret_marker = f"CONTRACT-SECRET-{os.getpid()}-{id(self)}"
        marker.write_text(self.secret_marker + "\n")
        self.xxe_doctype = (
            '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
            f'<!ENTITY xxe2 SYSTEM "file://{marker}">]>'
        )
        try:
            yield
        finally:
            for adapter in self._adapters:
                adapter.close()
            for server in self._servers:
                server.stop()

    @pytest.fixture
    def make_adapter(self) -> Callable[..., Adapter]:
        """``make_adapter(scenario, **document_changes)``: an adapter bound to a fresh scenario server."""
        return self.build

    def build(self, scenario: str, **changes: Any) -> Adapter:
        server = self.start_server(scenario)
        return self.build_for(server, **changes)

    def build_for(self, server: Any, boundary: Boundary = UNRESTRICTED, host: str | None = None,
                  **changes: Any) -> Adapter:
        """An adapter of the kind's document for ``server``, built the way the loader builds it within
        ``boundary`` (a guarded one checks the egress policy); ``host`` replaces the server's address."""
        if boundary.credentials is None:  # the kit's service account, as an app lends its store
            boundary = replace(boundary, credentials=contract_credentials)
        doc = {"id": "contract", "name": "Contract system", "kind": self.kind, "timeout_s": self.timeout_s}
        doc.update(self.document(server))
        doc.update(changes)
        if host is not None:
            doc = retarget(doc, host)
        if self.adapter_class is not None:
            cls = self.adapter_class
            config, options = parse_adapter_document(doc, "contract", lambda kind: cls.Options)
            with building(boundary):
                adapter = cls(config, options)
            if boundary.guarded and boundary.egress is not None:
                try:
                    check_document(adapter, "contract")
                except BaseException:
                    adapter.close()
                    raise
        else:
            adapter = build_adapter(doc, "contract", boundary)
        self._adapters.append(adapter)
        self._server_of[id(adapter)] = server
        return adapter

    def server_of(self, adapter: Adapter) -> Any:
        return self._server_of[id(adapter)]

    def start_server(self, scenario: str) -> Any:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        if scenario == "refused":
            return Nowhere(free_port())
        holder: dict[str, Any] = {}

        def respond(seen: Seen) -> Delivery:
            return self.delivery(scenario, seen, holder["server"])

        server: Any
        if self.transport == "http":
            server = ContractHttpServer(respond, content_type=self.content_type, static={})
            server.static.update(self.static_routes(server))
            if scenario == "login":
                server.static.pop(LOGIN_PATH, None)
                install_login(server)
        else:
            server = ContractTcpServer(respond, request_complete=self.request_complete)
        holder["server"] = server
        self._servers.append(server)
        return server

    # -- checks ----------------------------------------------------------------------------

    def assert_typed(self, result: Any, adapter: Adapter) -> SystemResult:
        return check_result(result, adapter)

    def lookup(self, adapter: Adapter, key: str = CUSTOMER, **kwargs: Any) -> SystemResult:
        try:
            result = adapter.lookup(key, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the one promise a kind may not break
            pytest.fail(f"lookup raised {type(exc).__name__}: {exc}")
        return self.assert_typed(result, adapter)

    def timed(self, adapter: Adapter, key: str = CUSTOMER, **kwargs: Any) -> tuple[SystemResult, float]:
        started = time.monotonic()
        result = self.lookup(adapter, key, **kwargs)
        return result, time.monotonic() - started

    def forbidden_texts(self) -> list[str]:
        """What must never come out of an adapter fed external entities: the files' contents."""
        texts = [self.secret_marker]
        try:
            first = Path("/etc/passwd").read_text().splitlines()[0]
            if first.strip():
                texts.append(first.strip())
        except (OSError, IndexError):
            pass
        return texts

    # -- the contract ----------------------------------------------------------------------

    def test_ok_is_typed_and_complete(self, make_adapter: Callable[..., Adapter]) -> None:
        adapter = make_adapter("ok")
        result = self.lookup(adapter)
        assert result.status is Status.OK, result.error
        assert result.fields.get("plan") == "Gold 88"
        assert result.fields.get("balance") == "12.50"
        if self.supports_tables:
            assert result.tables.get("bills") == [
                {"month": month, "amount": amount} for month, amount in ContractData().bills
            ]

    def test_not_found(self, make_adapter: Callable[..., Adapter]) -> None:
        if not self.supports_not_found:
            pytest.skip("the kind has no not-found answer")
        assert self.lookup(make_adapter("not_found")).status is Status.NOT_FOUND

    def test_refused_is_unavailable(self, make_adapter: Callable[..., Adapter]) -> None:
        result, took = self.timed(make_adapter("refused"))
        assert result.status is Status.UNAVAILABLE, result.error
        assert took < self.timeout_s + self.margin_s

    def test_hang_times_out_within_the_budget(self, make_adapter: Callable[..., Adapter]) -> None:
        result, took = self.timed(make_adapter("hang", timeout_s=0.4))
        assert (result.status, result.error) == (Status.TIMEOUT, "no answer within 0.4 s")
        assert took < 0.4 + self.margin_s

    def test_drip_cannot_stretch_the_deadline(self, make_adapter: Callable[..., Adapter]) -> None:
        result, took = self.timed(make_adapter("drip", timeout_s=0.4))
        assert result.status is Status.TIMEOUT, result.error
        assert took < 0.4 + self.margin_s

    def test_a_shorter_caller_timeout_is_honoured(self, make_adapter: Callable[..., Adapter]) -> None:
        adapter = make_adapter("hang")
        result, took = self.timed(adapter, timeout=0.25)
        assert (result.status, result.error) == (Status.TIMEOUT, "no answer within 0.25 s")
        assert took < 0.25 + self.margin_s
        result, took = self.timed(adapter, timeout=0)
        assert result.status is Status.TIMEOUT and took < self.margin_s

    def test_garbage_is_an_error(self, make_adapter: Callable[..., Adapter]) -> None:
        assert self.lookup(make_adapter("garbage")).status is Status.ERROR

    def test_oversized_answer_is_an_error_within_memory_bounds(self, make_adapter: Callable[..., Adapter]) -> None:
        adapter = make_adapter("oversized")
        tracemalloc.start()
        try:
            result, took = self.timed(adapter)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert result.status is Status.ERROR, result.error
        assert took < self.timeout_s + self.margin_s
        flood = self.max_bytes * self.flood_factor
        assert peak < flood // 4, f"{peak} bytes allocated for a {self.max_bytes}-byte limit"
        assert self.server_of(adapter).state.sent < flood, "the adapter read the whole flood"

    def test_reset_is_a_status(self, make_adapter: Callable[..., Adapter]) -> None:
        result = self.lookup(make_adapter("reset"))
        assert result.status in (Status.UNAVAILABLE, Status.ERROR), result.status

    def test_layout_drift_names_the_missing_required_field(self, make_adapter: Callable[..., Adapter]) -> None:
        result = self.lookup(make_adapter("drift"))
        assert (result.status, result.error) == (Status.ERROR, "layout changed: Plan not found")

    def test_billion_laughs_is_contained(self, make_adapter: Callable[..., Adapter]) -> None:
        result, took = self.timed(make_adapter("billion_laughs"), capture_raw=True)
        assert took < self.timeout_s + self.margin_s
        if self.parses_xml:
            assert result.status is Status.ERROR, result.error
        text = json.dumps(result.to_dict(include_raw=False))
        assert "lollollol" not in text, "entities were expanded"

    def test_external_entities_never_reach_the_output(self, make_adapter: Callable[..., Adapter]) -> None:
        result = self.lookup(make_adapter("xxe"), capture_raw=True)
        if self.parses_xml:
            assert result.status is Status.ERROR, result.error
        text = json.dumps(result.to_dict(include_raw=True), ensure_ascii=False)
        for secret in self.forbidden_texts():
            assert secret not in text, "the contents of a local file reached the output"

    def test_invalid_bytes_and_unknown_charsets_are_contained(self, make_adapter: Callable[..., Adapter]) -> None:
        scenarios = ["invalid_bytes"] + (["unknown_charset"] if self.transport == "http" else [])
        for scenario in scenarios:
            result = self.lookup(make_adapter(scenario), capture_raw=True)
            assert result.status in (Status.OK, Status.ERROR), (scenario, result.error)

    def test_lookup_never_raises_for_odd_keys(self, make_adapter: Callable[..., Adapter]) -> None:
        adapter = make_adapter("ok")
        for key in ("", " ", "0" * 5000, "1\x00\r\n2", "{customer}", "../../etc/passwd", "<x>&'\"", "用户号码", "%s%n"):
            self.lookup(adapter, key)

    def test_concurrent_lookups_share_the_adapter_safely(self, make_adapter: Callable[..., Adapter]) -> None:
        adapter = make_adapter("ok")
        with ThreadPoolExecutor(8, thread_name_prefix=f"{THREAD_PREFIX}caller") as pool:
            results = list(pool.map(lambda _: self.lookup(adapter), range(24)))
        assert all(r.status is Status.OK for r in results), {r.error for r in results}
        assert all(r.fields == results[0].fields for r in results)

    def test_raw_excerpt_for_the_test_console(self, make_adapter: Callable[..., Adapter]) -> None:
        adapter = make_adapter("ok")
        assert self.lookup(adapter).raw_excerpt is None
        result = self.lookup(adapter, capture_raw=True)
        assert result.raw_excerpt and "Gold 88" in result.raw_excerpt
        failed = self.lookup(make_adapter("garbage"), capture_raw=True)
        assert failed.status is Status.ERROR and failed.raw_excerpt, "a failed answer's excerpt is missing"

    def test_correlation_id_is_sent(self, make_adapter: Callable[..., Adapter]) -> None:
        sends = self.transport == "http" if self.sends_correlation_id is None else self.sends_correlation_id
        if not sends:
            pytest.skip("the protocol has no place for a correlation id")
        adapter = make_adapter("ok")
        assert self.lookup(adapter, correlation_id="corr-contract-1").status is Status.OK
        seen = self.server_of(adapter).state.seen
        assert any(s.headers.get("X-Correlation-ID") == "corr-contract-1" for s in seen)

    def test_login_when_the_system_shows_its_login_page(self, make_adapter: Callable[..., Adapter]) -> None:
        if not self.supports_login:
            pytest.skip("the kind does not log in")
        adapter = make_adapter("login")
        server = self.server_of(adapter)
        assert self.lookup(adapter).status is Status.OK
        assert self.lookup(adapter).status is Status.OK
        assert server.logins == 1, "the session was not reused"
        server.session = "s2"  # the system forgets every session
        assert self.lookup(adapter).status is Status.OK
        assert server.logins == 2

    def test_close_releases_sockets_and_threads(self, make_adapter: Callable[..., Adapter]) -> None:
        threads_before = {t.ident for t in threading.enumerate()}
        fds_before = open_fds()
        adapter = make_adapter("ok")
        for _ in range(3):
            assert self.lookup(adapter).status is Status.OK
        with ThreadPoolExecutor(4, thread_name_prefix=f"{THREAD_PREFIX}caller") as pool:
            list(pool.map(lambda _: self.lookup(adapter), range(8)))
        self.lookup(make_adapter("hang", timeout_s=0.2))  # an abandoned exchange must not leak either
        for server in self._servers:
            server.state.released.set()  # lets the hanging exchange's server side go
        for other in self._adapters:
            other.close()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            leaked = [
                t for t in threading.enumerate()
                if t.ident not in threads_before and not t.name.startswith(THREAD_PREFIX)
            ]  # fmt: skip
            fds = open_fds()
            # The suite's servers still hold their listening sockets (two at most here).
            if not leaked and (fds is None or fds_before is None or fds <= fds_before + 2):
                break
            time.sleep(0.05)
        assert not leaked, f"threads left running after close(): {[t.name for t in leaked]}"
        if fds is not None and fds_before is not None:
            assert fds <= fds_before + 2, f"{fds - fds_before} descriptors still open after close()"

    # -- checked at registration: masks, bound credentials (issue 11) ---------------------

    def test_an_invalid_mask_is_refused_at_registration(self) -> None:
        from portal.errors import ConfigError

        server = self.start_server("ok")
        fields = self.document(server)["fields"]
        name = next(iter(fields))
        with pytest.raises(ConfigError) as caught:
            self.build_for(server, Boundary(guarded=True), fields={**fields, name: {**fields[name], "mask": "bogus"}})
        assert (caught.value.key, caught.value.reason) == (
            f"fields.{name}.mask", "expected keep_last:N, keep_first:N or all")

    def test_another_systems_credentials_are_refused_at_registration(self) -> None:
        from portal.errors import ConfigError

        if not self.supports_login:
            pytest.skip("the kind does not log in")
        server = self.start_server("ok")
        self.build_for(server, Boundary(guarded=True))  # CONTRACT belongs to the system "contract"
        with pytest.raises(ConfigError) as caught:
            self.build_for(server, Boundary(guarded=True), id="other")
        assert (caught.value.key or "").endswith(".credentials"), caught.value
        assert caught.value.reason == f"credentials {CREDENTIALS_NAME} are bound to system contract, not to other"

    # -- the egress policy (portal.adapters.egress) ----------------------------------------

    @pytest.mark.parametrize("case", EGRESS_CASES, ids=lambda case: case.id)
    def test_egress_refused_at_connect_time_before_anything_connects(self, case: EgressCase) -> None:
        server = self.start_server("ok")
        # Not guarded: the document is not checked when built, so only the connect-time check stands.
        adapter = self.build_for(server, Boundary(egress=case.policy(server.port)), host=case.host)
        result = self.lookup(adapter)
        assert result.status is Status.ERROR, result.error
        case.check_reason(result.error, server.port)
        assert server.state.accepted == 0, "the system saw a connection the egress policy refuses"

    @pytest.mark.parametrize("case", EGRESS_CASES, ids=lambda case: case.id)
    def test_egress_refused_at_registration_naming_the_key(self, case: EgressCase) -> None:
        from portal.errors import ConfigError

        server = self.start_server("ok")
        keys = {key for key, _, _ in self.build_for(server, host=case.host).egress_targets()}
        assert keys, "egress_targets() names no destination of the document"
        with pytest.raises(ConfigError) as caught:
            self.build_for(server, Boundary(egress=case.policy(server.port), guarded=True), host=case.host)
        assert caught.value.key in keys, caught.value
        case.check_reason(caught.value.reason, server.port)
        assert server.state.accepted == 0, "registration connected to the system"

    def test_egress_allows_a_loopback_port_a_rule_lists(self, make_adapter: Callable[..., Adapter]) -> None:
        server = self.start_server("ok")
        policy = EgressPolicy.from_settings([{"hosts": ["127.0.0.1"], "ports": str(server.port)}])
        adapter = self.build_for(server, Boundary(egress=policy, guarded=True))
        result = self.lookup(adapter)
        assert result.status is Status.OK, result.error

    def test_egress_refuses_a_redirect_to_a_refused_address(self) -> None:
        if self.transport != "http":
            pytest.skip("the protocol has no redirects")
        refused = self.start_server("ok")
        target = f"{refused.url}/elsewhere"
        redirect = ContractHttpServer(lambda seen: Delivery(b"", status=302, headers={"Location": target}),
                                      content_type=self.content_type, static={})
        self._servers.append(redirect)
        policy = EgressPolicy.from_settings([{"hosts": ["127.0.0.1"], "ports": str(redirect.port)}])
        adapter = self.build_for(redirect, Boundary(egress=policy, guarded=True))
        result = self.lookup(adapter)
        assert result.status is Status.ERROR, result.error
        assert result.error == (f"refused by the egress policy: 127.0.0.1 is a loopback address, "
                                f"and no [egress] rule lists it with port {refused.port}")
        assert redirect.state.seen, "the allowed system was never asked"
        assert refused.state.accepted == 0, "the redirect was followed to a refused address"
