"""The socket kind against tiny loopback servers: framing, limits, deadlines, no leaked sockets."""

from __future__ import annotations

import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from portal.adapters.base import LookupContext, Status
from portal.adapters.socket import FrameReader

from .conftest import free_port, recv_exactly, recv_until


def socket_doc(port: int, **doc):
    return {"host": "127.0.0.1", "port": port, "request": "QUERY {customer}", "timeout_s": 1.0, **doc}


def test_line_framing_appends_terminator_and_reads_one_line(tcp, make_adapter):
    received = []

    def handler(conn):
        received.append(recv_until(conn, b"\r\n"))
        # The answer arrives in pieces, the terminator split across two sends.
        for part in (b"OK PLAN=Gold BAL", b"=12.50\r", b"\nTRAILING GARBAGE"):
            conn.sendall(part)
            time.sleep(0.01)

    server = tcp(handler)
    adapter = make_adapter(
        "socket",
        **socket_doc(
            server.port,
            terminator="\r\n",
            pattern=r"PLAN=(?P<plan>\w+) BAL=(?P<balance>[\d.]+)",
            fields={"plan": {"path": "plan"}, "balance": {"path": "balance"}},
        ),
    )
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert result.fields == {"plan": "Gold", "balance": "12.50"}
    assert received == [b"QUERY 13800000000\r\n"]
    assert server.wait_closed(1), "the adapter left its socket open"


def test_line_framing_accepts_a_peer_that_closes_instead_of_terminating(tcp, make_adapter):
    def handler(conn):
        recv_until(conn, b"\n")
        conn.sendall(b"plan=Gold|points=10")
        conn.shutdown(socket.SHUT_WR)

    server = tcp(handler)
    adapter = make_adapter(
        "socket", **socket_doc(server.port, parse="kv", fields={"plan": {"path": "plan"}, "points": {"path": "points"}})
    )
    result = adapter.lookup("1")
    assert (result.status, result.fields) == (Status.OK, {"plan": "Gold", "points": "10"})


@pytest.mark.parametrize("length_bytes", [1, 2, 4])
@pytest.mark.parametrize("byteorder", ["big", "little"])
def test_length_framing_gbk_kv(tcp, make_adapter, length_bytes, byteorder):
    seen = []

    def handler(conn):
        size = int.from_bytes(recv_exactly(conn, length_bytes), byteorder)
        seen.append(recv_exactly(conn, size).decode("gbk"))
        body = "姓名=王伟|套餐=畅聊88|彩信=12".encode("gbk")
        conn.sendall(len(body).to_bytes(length_bytes, byteorder) + body + b"EXTRA")

    server = tcp(handler)
    adapter = make_adapter(
        "socket",
        **socket_doc(
            server.port,
            request="查询 {customer}",
            charset="gbk",
            framing="length",
            length_bytes=length_bytes,
            byteorder=byteorder,
            parse="kv",
            fields={"name": {"path": "姓名"}, "plan": {"path": "套餐"}, "mms": {"path": "彩信"}, "none": {"path": "x"}},
        ),
    )
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert result.fields == {"name": "王伟", "plan": "畅聊88", "mms": "12", "none": None}
    assert seen == ["查询 13800000000"]
    assert server.wait_closed(1)


def test_fixed_framing_and_fixed_columns(tcp, make_adapter):
    record = b"13800000000".ljust(20) + b"wang.wei@demo.test".ljust(40) + b"1024".rjust(10) + b"   512".ljust(10)
    assert len(record) == 80

    def handler(conn):
        recv_exactly(conn, len(b"M13800000000"))
        conn.sendall(record[:30])
        time.sleep(0.02)
        conn.sendall(record[30:] + b"NEXT RECORD")

    server = tcp(handler)
    adapter = make_adapter(
        "socket",
        **socket_doc(
            server.port,
            request="M{customer}",
            framing="fixed",
            record_length=80,
            parse="fixed",
            fields={"address": {"path": "20:60"}, "quota": {"path": "60:70"}, "used": {"path": "70:80"}},
        ),
    )
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert result.fields == {"address": "wang.wei@demo.test", "quota": "1024", "used": "512"}


def test_tables_use_finditer_over_the_whole_answer(tcp, make_adapter):
    def handler(conn):
        recv_until(conn, b"\n")
        conn.sendall(b"COUNT=2;SMS 0601 to 10086 ok;SMS 0602 to 95588 failed;\n")

    server = tcp(handler)
    adapter = make_adapter(
        "socket",
        **socket_doc(
            server.port,
            pattern=r"COUNT=(?P<count>\d+)",
            fields={"count": {"path": "count"}},
            tables={
                "sms": {
                    "path": r"SMS (?P<day>\d{4}) to (?P<to>\d+) (?P<state>\w+)",
                    "columns": {"day": "day", "to": "to", "state": "state"},
                }
            },
        ),
    )
    result = adapter.lookup("1")
    assert result.fields == {"count": "2"}
    assert result.tables == {
        "sms": [{"day": "0601", "to": "10086", "state": "ok"}, {"day": "0602", "to": "95588", "state": "failed"}]
    }


def test_not_found_regex(tcp, make_adapter):
    server = tcp(lambda conn: (recv_until(conn, b"\n"), conn.sendall(b"ERR 404 NO SUCH SUBSCRIBER\n")))
    adapter = make_adapter(
        "socket", **socket_doc(server.port, not_found=r"^ERR 404", pattern="(?P<x>.)", fields={"x": {"path": "x"}})
    )
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.NOT_FOUND, "customer not known to this system")


def test_answer_not_matching_the_pattern_is_an_error(tcp, make_adapter):
    server = tcp(lambda conn: (recv_until(conn, b"\n"), conn.sendall(b"WHAT?\n")))
    adapter = make_adapter("socket", **socket_doc(server.port, pattern=r"PLAN=(?P<p>\w+)", fields={"p": {"path": "p"}}))
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "answer does not match the pattern")


def test_refused_connection_is_unavailable(make_adapter):
    adapter = make_adapter("socket", **socket_doc(free_port(), pattern="(?P<x>.)"))
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.UNAVAILABLE, "connection refused")


def test_silent_system_times_out_within_the_budget(tcp, make_adapter):
    server = tcp(lambda conn: server.released.wait(10))
    adapter = make_adapter("socket", **socket_doc(server.port, timeout_s=0.3, pattern="(?P<x>.)"))
    started = time.monotonic()
    result = adapter.lookup("1")
    took = time.monotonic() - started
    assert (result.status, result.error) == (Status.TIMEOUT, "no answer within 0.3 s")
    assert 0.25 <= took < 0.6


def test_dripping_system_cannot_stretch_the_deadline(tcp, make_adapter):
    def handler(conn):
        recv_until(conn, b"\n")
        for _ in range(100):  # one byte every 50 ms: each recv succeeds, the whole never ends in time
            if server.released.wait(0.05):
                return
            conn.sendall(b"x")

    server = tcp(handler)
    adapter = make_adapter("socket", **socket_doc(server.port, timeout_s=0.4, pattern="(?P<x>.)"))
    started = time.monotonic()
    result = adapter.lookup("1")
    assert result.status is Status.TIMEOUT
    assert time.monotonic() - started < 0.7
    assert server.wait_closed(1)


def test_read_limits(tcp, make_adapter):
    endless = tcp(lambda conn: (recv_until(conn, b"\n"), conn.sendall(b"y" * 5000)))
    adapter = make_adapter("socket", **socket_doc(endless.port, max_bytes=1000, pattern="(?P<x>.)"))
    assert adapter.lookup("1").error == "response larger than 1000 bytes"

    def huge_prefix(conn):
        size = struct.unpack(">I", recv_exactly(conn, 4))[0]
        recv_exactly(conn, size)
        conn.sendall(struct.pack(">I", 50_000_000))

    server = tcp(huge_prefix)
    adapter = make_adapter(
        "socket", **socket_doc(server.port, framing="length", max_bytes=1000, parse="kv", fields={"a": {"path": "a"}})
    )
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "response larger than 1000 bytes")


def test_answer_cut_off_mid_frame(tcp, make_adapter):
    def handler(conn):
        recv_exactly(conn, 5)
        conn.sendall(b"short")
        conn.shutdown(socket.SHUT_WR)

    server = tcp(handler)
    adapter = make_adapter(
        "socket",
        **socket_doc(server.port, request="{customer}", framing="fixed", record_length=80, parse="fixed",
                     fields={"a": {"path": "0:5"}}),
    )
    result = adapter.lookup("12345")
    assert (result.status, result.error) == (Status.ERROR, "answer cut off after 5 of 80 bytes")


def test_closed_without_answer(tcp, make_adapter):
    server = tcp(lambda conn: (recv_until(conn, b"\n"), conn.shutdown(socket.SHUT_WR)))
    adapter = make_adapter("socket", **socket_doc(server.port, pattern="(?P<x>.)"))
    assert adapter.lookup("1").error == "connection closed without an answer"


def test_frame_reader_over_a_socketpair():
    left, right = socket.socketpair()
    with left, right:
        right.sendall(b"one\r\ntwo\r\n\x00\x03abc")
        context = LookupContext(deadline=time.monotonic() + 1, budget=1)
        reader = FrameReader(left, context, max_bytes=100)
        assert reader.read_line(b"\r\n") == b"one"
        assert reader.read_line(b"\r\n") == b"two"
        size = int.from_bytes(reader.read_exactly(2), "big")
        assert reader.read_exactly(size) == b"abc"


# -- ASCII length prefixes, close and idle framing, split fields ------------------------


def test_ascii_length_prefix(tcp, make_adapter):
    seen = []

    def handler(conn):
        size = int(recv_exactly(conn, 6))
        seen.append(recv_exactly(conn, size))
        body = b"plan=Gold|bal=9.5"
        conn.sendall(str(len(body)).zfill(6).encode() + body)

    server = tcp(handler)
    adapter = make_adapter(
        "socket",
        **socket_doc(server.port, framing="length", length_format="ascii", length_bytes=6, parse="kv",
                     fields={"plan": {"path": "plan"}, "bal": {"path": "bal"}}),
    )
    result = adapter.lookup("13800000000")
    assert (result.status, result.fields) == (Status.OK, {"plan": "Gold", "bal": "9.5"}), result.error
    assert seen == [b"QUERY 13800000000"]


def test_ascii_length_prefix_that_is_not_digits(tcp, make_adapter):
    server = tcp(lambda conn: (recv_exactly(conn, 4 + 7), conn.sendall(b"12a4xxxx")))
    adapter = make_adapter(
        "socket", **socket_doc(server.port, request="Q {customer}", framing="length", length_format="ascii",
                               parse="kv", fields={"a": {"path": "a"}})
    )
    result = adapter.lookup("12345")
    assert (result.status, result.error) == (Status.ERROR, "bad length prefix b'12a4': expected ASCII digits")


def test_close_framing_reads_until_the_server_closes(tcp, make_adapter):
    def handler(conn):
        recv_until(conn, b"\n")
        for part in (b"OK|Gold", b"|12.50\n", b"|extra line"):
            conn.sendall(part)
            time.sleep(0.02)
        conn.shutdown(socket.SHUT_WR)

    server = tcp(handler)
    adapter = make_adapter(
        "socket",
        **socket_doc(server.port, request="QUERY {customer}\n", framing="close", parse="split",
                     fields={"state": {"path": "0"}, "plan": {"path": "1"}, "bal": {"path": "2"},
                             "last": {"path": "3"}, "beyond": {"path": "9"}}),
    )
    result = adapter.lookup("1")
    assert result.status is Status.OK, result.error
    assert result.fields == {"state": "OK", "plan": "Gold", "bal": "12.50", "last": "extra line", "beyond": None}


def test_close_framing_is_bounded_by_max_bytes_and_the_deadline(tcp, make_adapter):
    def endless(conn):
        recv_until(conn, b"\n")
        try:
            while not server.released.is_set():
                conn.sendall(b"z" * 4096)
        except OSError:
            pass

    server = tcp(endless)
    adapter = make_adapter("socket", **socket_doc(server.port, request="Q\n", framing="close", max_bytes=10_000, pattern="(?P<x>z)"))
    assert adapter.lookup("1").error == "response larger than 10000 bytes"

    quiet = tcp(lambda conn: (recv_until(conn, b"\n"), conn.sendall(b"OK"), quiet.released.wait(5)))
    adapter = make_adapter("socket", **socket_doc(quiet.port, request="Q\n", framing="close", timeout_s=0.3, pattern="(?P<x>OK)"))
    started = time.monotonic()
    assert adapter.lookup("1").status is Status.TIMEOUT
    assert time.monotonic() - started < 0.6


def test_idle_framing_ends_the_answer_after_a_silence(tcp, make_adapter):
    def handler(conn):
        recv_until(conn, b"\n")
        time.sleep(0.1)  # the first byte may take its time
        for part in (b"PLAN=Gold ", b"BAL=1.00"):
            conn.sendall(part)
            time.sleep(0.03)  # shorter than the gap: the same answer
        server.released.wait(5)  # then silence, connection still open

    server = tcp(handler)
    adapter = make_adapter(
        "socket",
        **socket_doc(server.port, request="Q\n", framing="idle", idle_gap_s=0.15,
                     pattern=r"PLAN=(?P<plan>\w+) BAL=(?P<bal>[\d.]+)",
                     fields={"plan": {"path": "plan"}, "bal": {"path": "bal"}}),
    )
    started = time.monotonic()
    result = adapter.lookup("1")
    took = time.monotonic() - started
    assert (result.status, result.fields) == (Status.OK, {"plan": "Gold", "bal": "1.00"}), result.error
    assert 0.25 <= took < 0.6


def test_idle_framing_a_gap_cut_by_the_deadline_is_a_timeout(tcp, make_adapter):
    def handler(conn):
        recv_until(conn, b"\n")
        conn.sendall(b"PLAN=Gold")
        server.released.wait(5)

    server = tcp(handler)
    adapter = make_adapter(
        "socket", **socket_doc(server.port, request="Q\n", framing="idle", idle_gap_s=1.0, timeout_s=0.3, pattern="(?P<p>PLAN)")
    )
    result = adapter.lookup("1", capture_raw=True)
    assert (result.status, result.raw_excerpt) == (Status.TIMEOUT, "PLAN=Gold")


def test_raw_excerpt_of_a_socket_answer_and_of_a_bad_one(tcp, make_adapter):
    server = tcp(lambda conn: (recv_until(conn, b"\n"), conn.sendall("套餐=畅聊\n".encode("gbk"))))
    adapter = make_adapter(
        "socket", **socket_doc(server.port, charset="gbk", parse="kv", fields={"p": {"path": "套餐"}})
    )
    result = adapter.lookup("1", capture_raw=True)
    assert (result.fields, result.raw_excerpt) == ({"p": "畅聊"}, "套餐=畅聊")

    endless = tcp(lambda conn: (recv_until(conn, b"\n"), conn.sendall(b"\x00\x01" * 3000)))
    adapter = make_adapter("socket", **socket_doc(endless.port, max_bytes=1000, pattern="(?P<x>.)"))
    result = adapter.lookup("1", capture_raw=True)
    assert result.error == "response larger than 1000 bytes"
    assert result.raw_excerpt.startswith("\x00\x01")  # NUL is valid UTF-8: text, cut to the excerpt


def test_regex_no_match_with_required_fields_is_layout_drift(tcp, make_adapter):
    server = tcp(lambda conn: (recv_until(conn, b"\n"), conn.sendall(b"OK NEWFORMAT plan:Gold\n")))
    adapter = make_adapter(
        "socket",
        **socket_doc(server.port, pattern=r"PLAN=(?P<plan>\w+)(?: BAL=(?P<bal>\S+))?",
                     fields={"plan": {"path": "plan", "label": "Plan", "required": True},
                             "bal": {"path": "bal", "label": "Balance", "required": True}}),
    )
    assert adapter.lookup("1").error == "layout changed: Plan, Balance not found"


# -- connection reuse ---------------------------------------------------------------------


def line_server(tcp, answers: dict[bytes, bytes] | None = None, *, close_after: int | None = None):
    """A line protocol answering several requests per connection, like the demo SMSC."""

    def handler(conn):
        served = 0
        buffer = b""
        while True:
            while b"\n" not in buffer:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buffer += chunk
            line, buffer = buffer.split(b"\n", 1)
            conn.sendall((answers or {}).get(line, b"OK PLAN=Gold " + line) + b"\n")
            served += 1
            if close_after is not None and served >= close_after:
                conn.shutdown(socket.SHUT_RDWR)  # an idle timeout on the server side
                return

    return tcp(handler)


def keep_alive_doc(port: int, **doc):
    return socket_doc(port, keep_alive=True, pattern=r"PLAN=(?P<plan>\w+)", fields={"plan": {"path": "plan"}}, **doc)


def test_keep_alive_reuses_one_connection(tcp, make_adapter):
    server = line_server(tcp)
    adapter = make_adapter("socket", **keep_alive_doc(server.port))
    for _ in range(5):
        result = adapter.lookup("1")
        assert result.status is Status.OK, result.error
    assert server.accepted == 1
    adapter.close()
    assert server.wait_closed(1), "close() left the pooled connection open"


def test_keep_alive_pool_is_bounded_and_thread_safe(tcp, make_adapter):
    server = line_server(tcp)
    adapter = make_adapter("socket", **keep_alive_doc(server.port, pool_size=2))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: adapter.lookup(str(n)), range(40)))
    assert all(r.status is Status.OK for r in results), {r.error for r in results}
    assert [r.fields["plan"] for r in results] == ["Gold"] * 40
    assert len(adapter._pool) <= 2
    assert server.accepted <= 40 and server.wait_closed(server.accepted - 2)


def test_a_connection_the_server_dropped_is_retried_once_on_a_fresh_one(tcp, make_adapter):
    server = line_server(tcp, close_after=1)
    adapter = make_adapter("socket", **keep_alive_doc(server.port))
    for _ in range(3):
        result = adapter.lookup("1")
        assert result.status is Status.OK, result.error
    assert server.accepted == 3


def test_a_dead_pooled_connection_that_passes_the_check_is_retried(tcp, make_adapter, monkeypatch):
    from portal.adapters import socketpool

    server = line_server(tcp, close_after=1)
    adapter = make_adapter("socket", **keep_alive_doc(server.port))
    assert adapter.lookup("1").status is Status.OK
    time.sleep(0.05)
    monkeypatch.setattr(socketpool, "_looks_open", lambda sock: True)  # the peer's FIN not seen yet
    result = adapter.lookup("1")
    assert result.status is Status.OK, result.error
    assert server.accepted == 2


def test_leftover_bytes_mean_the_connection_is_not_reused(tcp, make_adapter):
    server = line_server(tcp, {b"QUERY 1": b"OK PLAN=Gold\nSURPRISE"})
    adapter = make_adapter("socket", **keep_alive_doc(server.port))
    assert adapter.lookup("1").fields == {"plan": "Gold"}
    assert len(adapter._pool) == 0
    assert adapter.lookup("2").status is Status.OK
    assert server.accepted == 2


def test_idle_pooled_connections_are_closed_after_pool_idle_s(tcp, make_adapter):
    server = line_server(tcp)
    adapter = make_adapter("socket", **keep_alive_doc(server.port, pool_idle_s=0.2))
    assert adapter.lookup("1").status is Status.OK
    assert server.wait_closed(1, timeout=2.5), "the reaper did not close the idle connection"
    assert len(adapter._pool) == 0
    assert adapter.lookup("1").status is Status.OK
    assert server.accepted == 2


def test_a_timed_out_exchange_never_goes_back_to_the_pool(tcp, make_adapter):
    def handler(conn):
        recv_until(conn, b"\n")
        server.released.wait(5)

    server = tcp(handler)
    adapter = make_adapter("socket", **keep_alive_doc(server.port, timeout_s=0.2))
    assert adapter.lookup("1").status is Status.TIMEOUT
    assert len(adapter._pool) == 0
    assert adapter.lookup("1").status is Status.TIMEOUT
    assert server.accepted == 2  # a late answer on the old connection could be taken for the next one


def test_closing_an_adapter_unregisters_its_pool_from_the_reaper(tcp, make_adapter):
    from portal.adapters import socketpool

    server = line_server(tcp)
    adapter = make_adapter("socket", **keep_alive_doc(server.port))
    pool = adapter._pool
    assert pool in socketpool._reaper._pools
    adapter.close()
    assert pool not in socketpool._reaper._pools


def test_reaper_thread_ends_when_the_last_pool_closes():
    # A reaper of its own: the process-wide one also serves pools of other tests' adapters.
    from portal.adapters.socketpool import _Reaper

    class IdlePool:
        def reap(self) -> None:
            pass

    reaper = _Reaper()
    pool = IdlePool()
    reaper.register(pool)
    thread = reaper._thread
    assert thread is not None and thread.is_alive()
    reaper.unregister(pool)
    thread.join(3)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("doc", "key", "reason"),
    [
        ({"framing": "close", "keep_alive": True}, "keep_alive", "not possible with framing = 'close'"),
        ({"framing": "idle", "keep_alive": True}, "keep_alive", "not possible with framing = 'idle'"),
        ({"framing": "length", "length_format": "ascii", "length_bytes": 11}, "length_bytes", "1 to 10 digits"),
        ({"framing": "length", "length_format": "hex"}, "length_format", "'binary' or 'ascii'"),
        ({"idle_gap_s": 0}, "idle_gap_s", "greater than 0"),
        ({"pool_size": 0}, "pool_size", "greater than or equal to 1"),
        ({"parse": "split", "pattern": None, "fields": {"p": {"path": "first"}}}, "fields.p.path",
         "expected a 0-based field index, got 'first'"),
    ],
)
def test_new_socket_options_are_validated(doc, key, reason):
    from portal.adapters.registry import build_adapter
    from portal.errors import ConfigError

    data = {"id": "sys", "name": "S", "kind": "socket", "host": "127.0.0.1", "port": 1, "request": "Q",
            "pattern": "(?P<p>.)", "fields": {"p": {"path": "p"}}}
    data.update(doc)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        build_adapter(data, "x.toml")
    assert info.value.key == key
    assert reason in info.value.reason


def test_expect_refuses_error_and_junk_records(tcp, make_adapter):
    answers = iter([b"OK13800000000wang@demo".ljust(40) + b"\n", b"ER13800000000INTERNAL ERROR: SERVICE DOWN\n",
                    b"\x00\xff\x13junk\n"])
    server = tcp(lambda conn: (recv_until(conn, b"\n"), conn.sendall(next(answers))))
    doc = socket_doc(server.port, parse="fixed", pattern=None, expect="^OK", not_found="^NF",
                     fields={"address": {"path": "13:40"}})
    adapter = make_adapter("socket", **doc)
    assert adapter.lookup("1").fields == {"address": "wang@demo"}
    result = adapter.lookup("1")
    assert (result.status, result.error) == (Status.ERROR, "unexpected answer: 'ER13800000000INTERNAL ERROR: SERVICE DOWN'")
    result = adapter.lookup("1")
    assert result.status is Status.ERROR and result.error.startswith("unexpected answer: ")
    assert "\n" not in result.error and len(result.error) < 100
