"""Fault injection: what can go wrong with a back-office system, per system and per request.

A fault is put on one system with :meth:`portal.demo.backoffice.BackOffice.inject`
and applies to that system's next ``times`` requests (``None``: until cleared),
or only to those about one customer ``number``. The portal must turn every one of
them into a panel status and a short message, never a crash, a hang or a leak
(``tests/adapters/test_fault_matrix.py`` checks it).

What each fault looks like on the wire, per protocol (the bytes are built in
:mod:`portal.demo.fault_payloads`; socket answers are given as smsc | mms | mail,
i.e. line | 4-byte length-prefixed frame | fixed 80-byte record)::

  fault (params)          protocol  on the wire
  ----------------------  --------  ------------------------------------------------------------
  latency (seconds)       all       the normal answer, ``seconds`` late (clear cuts it short)
  http_error (status=503) HTML      ``status`` with an HTML error page
                          XML       ``status`` with an HTML error page (the proxy in front's)
                          SOAP      HTTP 500 + ``soap:Server`` fault ``INTERNAL_ERROR`` (never the
                                    not-found fault; SOAP 1.1 puts every fault on 500: no ``status``)
                          socket    ``ERR INTERNAL ...`` | ``result=ERROR|code=INTERNAL|...`` | ``ER`` record
  garbage                 HTML      2 KB of binary junk, HTTP 200
                          XML/SOAP  the normal document cut in half, then junk, HTTP 200
                          socket    a junk line | a junk frame (honest length) | 80 junk bytes
  hang                    all       request read, never answered; clear/reset/stop drop it unanswered
  reset                   all       request read, then the connection aborted: SO_LINGER 0, so RST
  oversized (bytes=5 MB,  HTML      a page of ``bytes`` bytes, streamed (``declared=False``: without
    declared=True)                  Content-Length, the body ends when the connection closes)
                          XML/SOAP  an XML document of ``bytes`` bytes, likewise
                          socket    a good start, no line end before ``bytes`` | a prefix claiming
                                    ``bytes``, and that much | one "record" of ``bytes`` bytes
  xml_bomb                XML/SOAP  the normal answer with a billion-laughs DTD, every text ``&lol9;``
                          HTML      the billion-laughs document itself, as text/html
                          socket    the same document as the line | the frame | 80-byte records
  xxe                     XML/SOAP  the normal answer, every text ``&xxe;&xxenet;`` (SYSTEM entities
                                    on ``file:///etc/passwd`` and ``http://127.0.0.1:1/``)
                          HTML      an XXE document with both entities, as text/html
                          socket    the same document as the line | the frame | 80-byte records
  wrong_charset           HTML      the page in GBK, declared UTF-8 (rbt: UTF-8, declared GBK)
                          XML/SOAP  the answer in GBK, its XML declaration saying UTF-8
                          socket    UTF-16 (declared UTF-8) | UTF-8 (declared GBK) | EBCDIC cp500
                                    (declared ASCII; still 80 bytes, so only the charset is wrong)
  login_page              HTML      HTTP 200, a sign-in page with ``<form id="login">``
                                    (complaints: its own login page, byte for byte)
                          XML/SOAP  HTTP 200, text/html: a single-sign-on gateway's sign-in page
                          socket    ``LOGIN REQUIRED`` as the line | the frame | an ``ER`` record

Why these choices: each fault is what a real system (or the proxy in front of it)
does when that thing goes wrong, in the format a client of *that* protocol has to
cope with. HTTP systems have HTTP statuses, socket systems only their own error
records; the SOAP 1.1 binding puts every fault on HTTP 500, so ``status`` does not
apply to it. XML bombs and external entities are XML attacks: XML and SOAP systems
get them *inside* their real answers, where a careless parser would expand them
into the fields it reads; HTML and socket clients get the same document as their
body or line, which they must refuse as not what they expect. A wrong charset is
what a system "upgraded" to another encoding sends; a login page is what an
expired session, or a single-sign-on gateway in front of the system, shows.

Which requests count: every request on an HTTP system's port (data, WSDL, login,
screens); for socket systems the raw TCP port only (their screens are a separate
web app). A request is "about" ``number`` when the number appears, as a whole
number, in its URL or body. Socket-system screens, and everything while no fault
matches, behave normally.
"""

from __future__ import annotations

import math
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from portal.demo import fault_payloads
from portal.demo.catalogue import SystemSpec

if TYPE_CHECKING:  # servers imports nothing from here at run time; keep it that way (no cycle)
    from portal.demo.servers import Control

#: Every fault :meth:`BackOffice.inject` accepts, in the order of the table above.
FAULTS: tuple[str, ...] = ("latency", "http_error", "garbage", "hang", "reset", "oversized",
                           "xml_bomb", "xxe", "wrong_charset", "login_page")

_REQUIRED = object()

#: Parameters of each fault and their defaults (``_REQUIRED``: must be given).
PARAMS: dict[str, dict[str, Any]] = {
    "latency": {"seconds": _REQUIRED},
    "http_error": {"status": 503},
    "oversized": {"bytes": 5_000_000, "declared": True},
}

MAX_OVERSIZED_BYTES = 1_000_000_000  # fits mms's 4-byte length prefix; far beyond any adapter limit


def _check_param(fault: str, name: str, value: Any) -> Any:
    """The parameter in its proper type, or ValueError saying what is wrong."""
    if name == "seconds":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{fault}: seconds must be a finite number >= 0, not {value!r}")
        return float(value)
    if name == "status":
        if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
            raise ValueError(f"{fault}: status must be an HTTP error status (400-599), not {value!r}")
        return value
    if name == "bytes":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_OVERSIZED_BYTES:
            raise ValueError(f"{fault}: bytes must be an integer in 1..{MAX_OVERSIZED_BYTES}, not {value!r}")
        return value
    if name == "declared":
        if not isinstance(value, bool):
            raise ValueError(f"{fault}: declared must be true or false, not {value!r}")
        return value
    raise AssertionError(name)  # pragma: no cover - PARAMS and this function list the same names


@dataclass
class Fault:
    """One injected fault of one system."""

    name: str
    params: Mapping[str, Any]
    times: int | None = None  # requests still to be hit; None: until cleared
    number: str | None = None
    served: int = 0  # requests hit so far (reported by GET /faults)
    _about: re.Pattern[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.number is not None:
            # A whole number: 1380000000 must not match inside 13800000000.
            self._about = re.compile(rb"(?<!\d)" + re.escape(self.number.encode("utf-8")) + rb"(?!\d)")

    def matches(self, request: bytes) -> bool:
        return self._about is None or self._about.search(request) is not None

    def describe(self, system_id: str) -> dict[str, Any]:
        return {"system": system_id, "fault": self.name, "times_left": self.times, "number": self.number,
                "params": dict(self.params), "served": self.served}


def make_fault(name: str, times: int | None = None, number: str | None = None, **params: Any) -> Fault:
    """A checked :class:`Fault`; ValueError names the first thing that is wrong."""
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r} (one of {', '.join(FAULTS)})")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be a positive integer or None (until cleared), not {times!r}")
    if number is not None and (not isinstance(number, str) or not number.strip() or len(number) > 64):
        raise ValueError(f"number must be a customer number (a non-empty string), not {number!r}")
    known = PARAMS.get(name, {})
    unknown = sorted(set(params) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise ValueError(f"{name} takes no parameter {', '.join(unknown)} (parameters: {allowed})")
    checked: dict[str, Any] = {}
    for param, default in known.items():
        if param in params:
            checked[param] = _check_param(name, param, params[param])
        elif default is _REQUIRED:
            raise ValueError(f"{name} needs the parameter {param}")
        else:
            checked[param] = default
    return Fault(name, checked, times, number.strip() if number else None)


def abort(conn: socket.socket, files: Iterable[IO[bytes]] = ()) -> None:
    """Close ``conn`` abortively: SO_LINGER 0 makes the kernel send RST instead of FIN.

    The files made by ``conn.makefile`` must be closed too, or the descriptor (and
    the connection) stays open until the handler ends, which then closes it with
    a FIN after all.
    """
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass  # already gone
    for file in files:
        try:
            file.close()
        except OSError:
            pass
    conn.close()


class FaultBook:
    """The faults injected into one system, and what its handlers do about them.

    Shared by the handler threads of the system's data listener; every method is
    thread-safe. Waits go through the system's :class:`Control`, so stopping the
    system releases them at once.
    """

    def __init__(self, spec: SystemSpec, control: Control) -> None:
        self.spec = spec
        self._control = control
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._epoch = 0  # bumped by clear(): releases hangs and cuts latencies short

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> int:
        """Remove every fault; requests hanging or delayed by one are released. Returns how many."""
        with self._lock:
            count, self._faults = len(self._faults), []
            self._epoch += 1
        self._control.notify()
        return count

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe(self.spec.id) for fault in self._faults]

    def take(self, request: bytes) -> Fault | None:
        """The first fault that applies to this request, counted as served (and dropped when used up)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.served += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def prelude(self, fault: Fault, conn: socket.socket, files: Iterable[IO[bytes]] = ()) -> bool:
        """Latency, hang and reset happen before any answer; False: drop the connection unanswered."""
        epoch = self._epoch
        if fault.name == "latency":
            # Cut short by clear() (then answer at once); False only when the system stopped.
            return self._control.wait_while(lambda: self._epoch == epoch, timeout=fault.params["seconds"])
        if fault.name == "hang":
            self._control.wait_while(lambda: self._epoch == epoch)
            return False  # "never answers": a released request is dropped, not answered late
        if fault.name == "reset":
            abort(conn, files)
            return False
        return True

    def http_answer(self, fault: Fault, normal: fault_payloads.NormalHttp) -> fault_payloads.HttpReply:
        return fault_payloads.http_reply(fault.name, fault.params, self.spec, normal)

    def socket_answer(self, fault: Fault, request: bytes, normal: Callable[[], bytes]) -> Iterable[bytes]:
        return fault_payloads.socket_reply(fault.name, fault.params, self.spec, request, normal)
