"""The socket kind against tiny loopback servers: framing, limits, deadlines, no leaked sockets."""

from __future__ import annotations

import socket
import struct
import time

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
