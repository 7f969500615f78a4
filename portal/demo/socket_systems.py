"""The three raw-TCP systems: SMS centre, MMS centre, mail.

Each connection may carry any number of requests, one after another; the
server answers each before reading the next and closes after
:data:`IDLE_TIMEOUT_S` idle seconds.

``smsc`` (fixed port 8210), line framing, UTF-8 (ASCII in practice)::

    -> HIST 13800000000\\n
    <- OK msisdn=13800000000 sent=455 received=1300 barred=no count=2 sms=[time=2026-06-26T08:15:15;dir=MT;peer=95588;status=DELIVERED;len=45][...]\\n
    <- ERR NOTFOUND 13800000001\\n          (unknown customer)
    <- ERR BADREQUEST <why>\\n              (anything else)

``mms`` (fixed port 8211), a 4-byte big-endian length before every request and answer, GBK payload::

    -> msisdn=13800000000                   ("cmd=QUERY|" in front is accepted)
    <- result=OK|msisdn=...|name=刘霞|sent=14|received=75|lastSubject=宝宝满月|storageKb=27945|status=ACTIVE
    <- result=NOTFOUND|msisdn=...|message=no such subscriber
    <- result=ERROR|message=<why>

``mail`` (fixed port 8212), fixed-width ASCII records. Request: the 11-digit number
(a trailing CR/LF is allowed). Answer: exactly :data:`MAIL_RECORD_LENGTH` bytes::

    [0:2] OK|NF|ER  [2:13] msisdn  [13:53] address  [53:61] quota MB (right-aligned)
    [61:69] used MB  [69:79] status  [79] "\\n"
"""

from __future__ import annotations

import socketserver
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO

from portal.demo import data
from portal.demo.servers import IDLE_TIMEOUT_S

if TYPE_CHECKING:  # faults (through fault_payloads) imports this module
    from portal.demo.faults import FaultBook

MAX_LINE = 256
MAX_MMS_PAYLOAD = 4096
MAIL_RECORD_LENGTH = 80
MAIL_COLUMNS = {"code": (0, 2), "msisdn": (2, 13), "address": (13, 53), "quota_mb": (53, 61),
                "used_mb": (61, 69), "status": (69, 79)}


class _Framed(socketserver.BaseRequestHandler):
    """Serve framed requests on one connection until the client closes it."""

    reader: BinaryIO

    def setup(self) -> None:
        self.request.settimeout(IDLE_TIMEOUT_S)
        self.reader = self.request.makefile("rb")

    def handle(self) -> None:
        while True:
            try:
                request = self.read_request()
            except (OSError, ValueError):  # reset, timeout, or closed by stop()
                return
            if request is None:
                return
            if not self.server.control.wait_turn():  # type: ignore[attr-defined]
                return  # the system was stopped while this request waited
            chunks = self.reply(request)
            if chunks is None:
                return  # an injected fault: hung and released, reset, or the system stopped
            try:
                for chunk in chunks:
                    self.request.sendall(chunk)
            except OSError:
                return

    def reply(self, request: bytes) -> Iterable[bytes] | None:
        """The answer, or what an injected fault sends instead; None: drop the connection unanswered."""
        faults: FaultBook | None = self.server.faults  # type: ignore[attr-defined]
        fault = faults.take(request) if faults is not None else None
        if fault is None:
            return [self.answer(request)]
        if not faults.prelude(fault, self.request, [self.reader]):  # type: ignore[union-attr]
            return None
        return faults.socket_answer(fault, request, lambda: self.answer(request))  # type: ignore[union-attr]

    def finish(self) -> None:
        self.reader.close()

    def read_request(self) -> bytes | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def answer(self, request: bytes) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------- smsc


def smsc_answer(line: str) -> str:
    """The one-line answer (with its newline) to one request line."""
    parts = line.split()
    if len(parts) != 2 or parts[0].upper() != "HIST":
        return "ERR BADREQUEST expected: HIST <msisdn>\n"
    number = parts[1]
    account = data.smsc(number)
    if account is None:
        return f"ERR NOTFOUND {number}\n"
    sms = "".join(f"[time={m.time.isoformat()};dir={m.direction};peer={m.peer};status={m.status};len={m.length}]"
                  for m in account.history)
    return (f"OK msisdn={number} sent={account.sent} received={account.received} "
            f"barred={'yes' if account.barred else 'no'} count={len(account.history)} sms={sms}\n")


class SmscHandler(_Framed):
    def read_request(self) -> bytes | None:
        line = self.reader.readline(MAX_LINE + 1)
        if not line:
            return None
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            self.request.sendall(b"ERR BADREQUEST line too long\n")
            return None  # cannot find the next request boundary: close
        return line

    def answer(self, request: bytes) -> bytes:
        try:
            line = request.decode("utf-8")
        except UnicodeDecodeError:
            return b"ERR BADREQUEST not UTF-8\n"
        return smsc_answer(line.strip()).encode("utf-8")


# --------------------------------------------------------------------------- mms


MMS_CHARSET = "gbk"


def mms_answer(payload: str) -> str:
    """The key=value answer to one decoded request payload."""
    fields: dict[str, str] = {}
    for pair in payload.strip().split("|"):
        key, sep, value = pair.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    number = fields.get("msisdn")
    if fields.get("cmd", "QUERY").upper() != "QUERY" or not number:
        return "result=ERROR|message=expected msisdn=<number> (cmd=QUERY optional)"
    account = data.mms(number)
    if account is None:
        return f"result=NOTFOUND|msisdn={number}|message=no such subscriber"
    return (f"result=OK|msisdn={number}|name={account.name}|sent={account.sent}|received={account.received}"
            f"|lastSubject={account.last_subject}|storageKb={account.storage_kb}|status={account.status}")


def length_prefixed(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


class MmsHandler(_Framed):
    def read_request(self) -> bytes | None:
        prefix = self.reader.read(4)
        if len(prefix) < 4:
            return None
        length = int.from_bytes(prefix, "big")
        if length > MAX_MMS_PAYLOAD:
            self.request.sendall(length_prefixed("result=ERROR|message=request too large".encode(MMS_CHARSET)))
            return None  # the rest of the frame would be read as the next request: close
        payload = self.reader.read(length)
        return payload if len(payload) == length else None

    def answer(self, request: bytes) -> bytes:
        try:
            text = mms_answer(request.decode(MMS_CHARSET))
        except UnicodeDecodeError:
            text = "result=ERROR|message=request is not GBK"
        return length_prefixed(text.encode(MMS_CHARSET))


# --------------------------------------------------------------------------- mail


def _fit(value: object, width: int, right: bool = False) -> str:
    text = str(value)[:width]
    return text.rjust(width) if right else text.ljust(width)


def mail_record(code: str, number: str, address: str = "", quota: object = "", used: object = "",
                status: str = "") -> bytes:
    """One fixed-width answer record, exactly :data:`MAIL_RECORD_LENGTH` bytes."""
    text = (_fit(code, 2) + _fit(number, 11) + _fit(address, 40) + _fit(quota, 8, True)
            + _fit(used, 8, True) + _fit(status, 10) + "\n")
    record = text.encode("ascii", "replace")
    assert len(record) == MAIL_RECORD_LENGTH
    return record


def mail_answer(request: bytes) -> bytes:
    """The record answering one request (the number, already stripped of CR/LF)."""
    number = request.decode("ascii", "replace")
    if not (len(number) == 11 and number.isdigit()):
        return mail_record("ER", "", "BAD REQUEST: expected an 11-digit number")
    box = data.mail(number)
    if box is None:
        return mail_record("NF", number, "NO SUCH MAILBOX")
    return mail_record("OK", number, box.address, box.quota_mb, box.used_mb, box.status)


class MailHandler(_Framed):
    def read_request(self) -> bytes | None:
        """11 bytes, or fewer ended by CR/LF (answered as a bad request); blank lines are skipped."""
        buf = bytearray()
        while len(buf) < 11:
            ch = self.reader.read(1)
            if not ch:
                return bytes(buf) if buf else None
            if ch in b"\r\n":
                if buf:
                    return bytes(buf)
                continue
            buf += ch
        return bytes(buf)

    def answer(self, request: bytes) -> bytes:
        return mail_answer(request.strip())


HANDLERS: dict[str, type[_Framed]] = {"smsc": SmscHandler, "mms": MmsHandler, "mail": MailHandler}
