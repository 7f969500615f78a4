"""The bytes of each injected fault, per protocol (the table is in :mod:`portal.demo.faults`).

Everything here is deterministic (junk comes from a ``random.Random`` seeded by
the system id), so a failing test sees the same bytes on every run. Oversized
answers are streamed from one cached 64 KB chunk: a 5 MB answer costs 64 KB of
memory however many requests are hit, which matters because the fault-matrix
test measures the memory of the process that runs both portal and back office.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from portal.demo import socket_systems, ui
from portal.demo.catalogue import SystemSpec
from portal.demo.web import h, page

CHUNK = 64 * 1024
JUNK_BYTES = 2048

Headers = list[tuple[str, str]]
#: Runs the system's real handler: (status line, headers, body).
NormalHttp = Callable[[], tuple[str, Headers, bytes]]

SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
XML_CONTENT_TYPE = "application/xml; charset=utf-8"

BILLION_LAUGHS_DTD = (
    '<!DOCTYPE {root} [\n  <!ENTITY lol "lol">\n'
    + "".join(f'  <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n"
)
BOMB_REF = "&lol9;"  # 10**9 "lol": 3 GB once expanded

XXE_DTD = ('<!DOCTYPE {root} [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n'
           '  <!ENTITY xxenet SYSTEM "http://127.0.0.1:1/">\n]>\n')
XXE_REF = "&xxe;&xxenet;"

#: The whole document HTML and socket clients get for ``xml_bomb`` / ``xxe``.
STANDALONE = {
    "xml_bomb": '<?xml version="1.0"?>\n' + BILLION_LAUGHS_DTD.format(root="lolz") + f"<lolz>{BOMB_REF}</lolz>\n",
    "xxe": '<?xml version="1.0"?>\n' + XXE_DTD.format(root="customer") + f"<customer>{XXE_REF}</customer>\n",
}

#: Declared charset of each socket system, and the one its ``wrong_charset`` answer is really in.
SOCKET_CHARSETS: dict[str, tuple[str, str]] = {"smsc": ("utf-8", "utf-16"), "mms": ("gbk", "utf-8"),
                                               "mail": ("ascii", "cp500")}


@dataclass(frozen=True)
class HttpReply:
    """An HTTP answer; ``length`` None means no Content-Length (the body ends when the connection closes)."""

    status: str
    headers: Headers
    body: bytes | Iterable[bytes]
    length: int | None
    close: bool = False


def junk(seed: str, size: int = JUNK_BYTES) -> bytes:
    """Random-looking bytes, the same for the same seed on every run and machine."""
    return random.Random(f"demo-fault-junk:{seed}").randbytes(size)


@functools.lru_cache(maxsize=16)
def _filler(unit: bytes) -> bytes:
    return (unit * (CHUNK // len(unit) + 1))[:CHUNK]


def stream(head: bytes, unit: bytes, total: int, tail: bytes = b"") -> Iterator[bytes]:
    """Exactly ``total`` bytes: ``head``, ``unit`` repeated, ``tail``; never more than 64 KB at once."""
    chunk = _filler(unit)
    head = head[:total]
    tail = tail[: max(0, total - len(head))]
    left = total - len(head) - len(tail)
    yield head
    while left > 0:
        piece = chunk if left >= CHUNK else chunk[:left]
        left -= len(piece)
        yield piece
    if tail:
        yield tail


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


def html_charset(spec: SystemSpec) -> str:
    return ui.CHARSETS.get(spec.id, "utf-8")


def _content_type(spec: SystemSpec) -> str:
    if spec.protocol == "soap":
        return SOAP_CONTENT_TYPE
    if spec.protocol == "xml":
        return XML_CONTENT_TYPE
    return f"text/html; charset={html_charset(spec)}"


def error_page(status: int) -> bytes:
    """What a web server or proxy shows for an HTTP error."""
    line = _status_line(status)
    return page(line, f"<h1>{h(line)}</h1>\n<p>The server cannot handle your request right now. "
                      "Please try again later.</p>\n<hr><address>DemoTel gateway</address>").encode("utf-8")


def soap_server_fault() -> bytes:
    """A SOAP 1.1 fault that is the system's own failure, not an unknown customer."""
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
            b"<faultcode>soap:Server</faultcode>"
            b"<faultstring>INTERNAL_ERROR: the service is temporarily unavailable</faultstring>"
            b"</soap:Fault></soap:Body></soap:Envelope>\n")


def login_page(spec: SystemSpec) -> bytes:
    """A sign-in page: the complaints system's own, or a single-sign-on gateway's in front of the others."""
    if spec.id == "complaints":
        from portal.demo.html_systems import login_page as complaints_login  # the real one, byte for byte

        return complaints_login(spec).get_data()
    body = (f"<h1>DemoTel single sign-on</h1><p>Your session has expired. Sign in to continue to "
            f"{h(spec.name)}.</p>\n"
            '<form id="login" method="post" action="/login"><label>User <input name="username"></label> '
            '<label>Password <input type="password" name="password"></label> '
            "<button type=\"submit\">Sign in</button></form>")
    return page(f"Sign in — {spec.name}", body).encode("utf-8")


_TEXT_NODE = re.compile(rb">([^<>\s][^<>]*)<")


def hostile_xml(document: bytes, dtd: str, ref: str) -> bytes:
    """``document`` (one of our own answers) with ``dtd`` declared and every text node replaced by ``ref``.

    So a parser that expands entities would put the bomb, or the file, into
    exactly the fields an adapter reads.
    """
    decl, sep, rest = document.partition(b"?>")
    if not sep:  # no XML declaration: the whole thing is the body
        decl, rest = b"", document
    root = re.search(rb"<([A-Za-z_][\w.:-]*)", rest)
    name = root.group(1).decode("ascii") if root else "root"
    prolog = decl + sep + b"\n" if sep else b""
    return prolog + dtd.format(root=name).encode("ascii") + _TEXT_NODE.sub(b">" + ref.encode("ascii") + b"<", rest)


def transcode(body: bytes, declared: str, actual: str) -> bytes:
    return body.decode(declared, "replace").encode(actual, "replace")


def http_reply(name: str, params: Mapping[str, Any], spec: SystemSpec, normal: NormalHttp) -> HttpReply:
    """The answer of an HTTP system hit by fault ``name`` (latency: the normal answer)."""
    content_type = _content_type(spec)
    ok = "200 OK"
    if name == "http_error":
        if spec.protocol == "soap":
            return _reply("500 Internal Server Error", SOAP_CONTENT_TYPE, soap_server_fault())
        return _reply(_status_line(params["status"]), "text/html; charset=utf-8", error_page(params["status"]))
    if name == "garbage":
        if spec.protocol == "html":
            return _reply(ok, content_type, junk(spec.id))
        _, _, body = normal()
        return _reply(ok, content_type, body[: len(body) // 2] + junk(spec.id, 256))  # truncated, then junk
    if name == "oversized":
        return _oversized(spec, content_type, params["bytes"], params["declared"])
    if name in ("xml_bomb", "xxe"):
        if spec.protocol == "html":
            return _reply(ok, content_type, STANDALONE[name].encode("ascii"))
        _, _, body = normal()
        dtd, ref = (BILLION_LAUGHS_DTD, BOMB_REF) if name == "xml_bomb" else (XXE_DTD, XXE_REF)
        return _reply(ok, content_type, hostile_xml(body, dtd, ref))
    if name == "wrong_charset":
        status, headers, body = normal()
        declared = html_charset(spec) if spec.protocol == "html" else "utf-8"
        actual = "utf-8" if declared.lower() != "utf-8" else "gbk"
        body = transcode(body, declared, actual)  # the headers (and any meta/XML declaration) still say ``declared``
        return HttpReply(status, headers, body, len(body))
    if name == "login_page":
        return _reply(ok, "text/html; charset=utf-8", login_page(spec))
    status, headers, body = normal()  # latency (and anything answered normally after its prelude)
    return HttpReply(status, headers, body, len(body))


def _reply(status: str, content_type: str, body: bytes) -> HttpReply:
    return HttpReply(status, [("Content-Type", content_type)], body, len(body))


def _oversized(spec: SystemSpec, content_type: str, size: int, declared: bool) -> HttpReply:
    if spec.protocol == "html":
        head, unit = b"<!DOCTYPE html>\n<html><body>\n", b"<p>padding padding padding padding padding</p>\n"
    else:
        head = b'<?xml version="1.0" encoding="UTF-8"?>\n<padding>\n'
        unit = b"<pad>padding padding padding padding padding</pad>\n"
    body = stream(head, unit, size)
    # Undeclared: the client can only find out by counting what it reads.
    return HttpReply("200 OK", [("Content-Type", content_type)], body, size if declared else None, close=True)


# --------------------------------------------------------------------------- sockets


def _number(request: bytes) -> str:
    found = re.search(rb"\d{5,20}", request)
    return found.group().decode("ascii") if found else "00000000000"


def _frame(system_id: str, payload: bytes) -> bytes:
    """``payload`` in the system's framing: a line, a length-prefixed frame, or 80-byte records."""
    if system_id == "smsc":
        return payload.replace(b"\r", b" ").replace(b"\n", b" ") + b"\n"
    if system_id == "mms":
        return socket_systems.length_prefixed(payload)
    size = socket_systems.MAIL_RECORD_LENGTH
    return payload.ljust(-(-len(payload) // size) * size)


def socket_reply(name: str, params: Mapping[str, Any], spec: SystemSpec, request: bytes,
                 normal: Callable[[], bytes]) -> Iterable[bytes]:
    """What a socket system sends when hit by fault ``name`` (latency: the normal answer)."""
    system_id = spec.id
    number = _number(request)
    if name == "http_error":
        if system_id == "smsc":
            return [b"ERR INTERNAL service unavailable, try again later\n"]
        if system_id == "mms":
            return [_frame(system_id, b"result=ERROR|code=INTERNAL|message=service unavailable")]
        return [socket_systems.mail_record("ER", number, "INTERNAL ERROR: SERVICE UNAVAILABLE")]
    if name == "garbage":
        if system_id == "smsc":
            return [junk(system_id, 512).replace(b"\n", b"?") + b"\n"]  # one line, whatever is in it
        if system_id == "mms":
            return [_frame(system_id, junk(system_id, 512))]
        return [junk(system_id, socket_systems.MAIL_RECORD_LENGTH)]
    if name == "oversized":
        size = params["bytes"]
        if system_id == "smsc":  # a good start, then no end of line before ``size`` bytes
            head = f"OK msisdn={number} sent=1 received=1 barred=no count=1 sms=".encode("ascii")
            return stream(head, b"[time=2026-06-30T00:00:00;dir=MT;peer=10086;status=DELIVERED;len=70]",
                          size, tail=b"\n")
        if system_id == "mms":  # the prefix claims ``size`` bytes, and they follow
            return stream(size.to_bytes(4, "big") + f"result=OK|msisdn={number}|".encode("ascii"),
                          b"pad=0123456789abcdef|", size + 4)
        return stream(f"OK{number}".encode("ascii"), b"X", size)  # one "record" of ``size`` bytes
    if name in ("xml_bomb", "xxe"):
        return [_frame(system_id, STANDALONE[name].encode("ascii"))]
    if name == "wrong_charset":
        declared, actual = SOCKET_CHARSETS[system_id]
        answer = normal()
        if system_id == "mms":  # re-encode the payload, keep the frame honest about its length
            return [_frame(system_id, transcode(answer[4:], declared, actual))]
        return [transcode(answer, declared, actual)]
    if name == "login_page":
        if system_id == "mail":
            return [socket_systems.mail_record("ER", number, "LOGIN REQUIRED")]
        return [_frame(system_id, b"LOGIN REQUIRED")]
    return [normal()]
