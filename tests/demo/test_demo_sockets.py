"""The raw-TCP systems: SMSC (lines), MMSC (length-prefixed GBK), mail (fixed-width records)."""

from __future__ import annotations

import re

import pytest

from portal.demo import data
from portal.demo.socket_systems import MAIL_COLUMNS, MAIL_RECORD_LENGTH

pytestmark = pytest.mark.backoffice

SMS = re.compile(r"\[time=(?P<time>[^;\]]+);dir=(?P<dir>MO|MT);peer=(?P<peer>[^;\]]+);"
                 r"status=(?P<status>[A-Z]+);len=(?P<len>\d+)\]")


def mms_call(net, sock, payload: str) -> str:
    body = payload.encode("gbk")
    sock.sendall(len(body).to_bytes(4, "big") + body)
    length = int.from_bytes(net.recv_exactly(sock, 4), "big")
    return net.recv_exactly(sock, length).decode("gbk")


def test_smsc_answers_several_lines_on_one_connection(backoffice, net):
    unknown = data.unknown_numbers("smsc")[0]
    with net.connect(backoffice.systems["smsc"].port) as sock:
        sock.sendall(f"HIST 13800000000\r\nHIST {unknown}\nHELLO\n".encode())
        known_line, missing_line, bad_line = (net.recv_line(sock).decode() for _ in range(3))
    account = data.smsc("13800000000")
    assert known_line.startswith(f"OK msisdn=13800000000 sent={account.sent} received={account.received} ")
    records = [m.groupdict() for m in SMS.finditer(known_line)]
    assert records == [{"time": s.time.isoformat(), "dir": s.direction, "peer": s.peer, "status": s.status,
                        "len": str(s.length)} for s in account.history]
    assert missing_line == f"ERR NOTFOUND {unknown}\n"
    assert bad_line.startswith("ERR BADREQUEST")


def test_mms_is_length_prefixed_gbk_key_values(backoffice, net):
    account = data.mms("13800000000")
    with net.connect(backoffice.systems["mms"].port) as sock:
        body = "msisdn=13800000000".encode("gbk")
        sock.sendall(len(body).to_bytes(4, "big") + body)
        length = int.from_bytes(net.recv_exactly(sock, 4), "big")
        raw = net.recv_exactly(sock, length)
        assert account.name.encode("gbk") in raw and account.last_subject.encode("gbk") in raw
        pairs = dict(pair.split("=", 1) for pair in raw.decode("gbk").split("|"))
        assert pairs == {"result": "OK", "msisdn": "13800000000", "name": account.name,
                         "sent": str(account.sent), "received": str(account.received),
                         "lastSubject": account.last_subject, "storageKb": str(account.storage_kb),
                         "status": account.status}
        # a second request on the same connection, with the optional command key
        unknown = data.unknown_numbers("mms")[0]
        assert mms_call(net, sock, f"cmd=QUERY|msisdn={unknown}").startswith(f"result=NOTFOUND|msisdn={unknown}|")
        assert mms_call(net, sock, "nonsense").startswith("result=ERROR|")
        sock.sendall((2).to_bytes(4, "big") + b"\xff\xff")  # not GBK
        reply = net.recv_exactly(sock, int.from_bytes(net.recv_exactly(sock, 4), "big")).decode("gbk")
        assert reply.startswith("result=ERROR|")


def test_mail_answers_fixed_width_records(backoffice, net):
    box = data.mail("13800000000")
    unknown = data.unknown_numbers("mail")[0]
    with net.connect(backoffice.systems["mail"].port) as sock:
        sock.sendall(f"13800000000\n{unknown}".encode())  # the newline is optional
        first, second = net.recv_exactly(sock, MAIL_RECORD_LENGTH), net.recv_exactly(sock, MAIL_RECORD_LENGTH)
        sock.sendall(b"12345\r\n")
        third = net.recv_exactly(sock, MAIL_RECORD_LENGTH)

    def cols(record: bytes) -> dict[str, str]:
        text = record.decode("ascii")
        return {name: text[a:b].strip() for name, (a, b) in MAIL_COLUMNS.items()}

    assert first.endswith(b"\n")
    assert cols(first) == {"code": "OK", "msisdn": "13800000000", "address": box.address,
                           "quota_mb": str(box.quota_mb), "used_mb": str(box.used_mb), "status": box.status}
    assert cols(second)["code"] == "NF" and cols(second)["msisdn"] == unknown
    assert cols(third)["code"] == "ER"
