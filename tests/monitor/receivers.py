"""Real receivers for alert tests: an SMTP server (aiosmtpd) and an SMS gateway (http.server).

Both listen on 127.0.0.1 on a port the kernel picks, run in a thread of the test
process, and collect what they receive, so tests assert on the messages people
would get. Monitors running in subprocesses reach them over loopback too.

Use them as context managers or through the fixtures ``smtp_receiver`` and
``sms_receiver`` (registered for tests/monitor by its conftest.py)::

    from tests.monitor.receivers import alert_overrides

    def test_x(smtp_receiver, sms_receiver):
        settings = {**alert_overrides(smtp_receiver, sms_receiver), ...}
        ...
        mails = smtp_receiver.wait_for(2)        # polls until 2 messages arrived (or fails after a deadline)
        texts = sms_receiver.wait_for(2)

For a monitor in a subprocess, ``alert_environment(smtp_receiver, sms_receiver)`` gives the
same settings as ``PORTAL_*`` environment variables.

``smtp_receiver.stop()`` / ``.start()`` take the server away and bring it back
on the same port; ``smtp_receiver.reject = "451 4.3.0 try later"`` makes it
refuse messages while up. ``sms_receiver.status = 500`` makes the gateway fail.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope

T = TypeVar("T")
WAIT_S = 10.0  # how long wait_for() polls before it gives up


class _Collector(Generic[T]):
    """A thread-safe list of what arrived, with a polling wait."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._lock = threading.Lock()

    def _add(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    @property
    def received(self) -> list[T]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[T]:
        """Everything received once at least ``count`` items arrived; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.received
            if len(items) >= count:
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} item(s) within {timeout:g} s, got {len(items)}: {items!r}")
            time.sleep(0.02)


# --- SMTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    login: str | None = None  # the user name the client logged in with, if it did

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_content()


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:
        if self.receiver.reject:
            return self.receiver.reject
        message = message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        auth = getattr(session, "auth_data", None)
        login = auth.login.decode() if auth is not None else None
        self.receiver._add(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message, login))
        return "250 OK"


class _BoundController(Controller):
    """aiosmtpd's controller on a socket we bound ourselves (port 0: the kernel's choice)."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpReceiver(_Collector[Mail]):
    """A real SMTP server on loopback. ``users`` (name -> password) turns on AUTH without TLS."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        super().__init__()
        self.users = users
        self.reject: str | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._controller: _BoundController | None = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        password = (self.users or {}).get(auth_data.login.decode())
        ok = password is not None and password == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> SmtpReceiver:
        """Listen (again): the first time on a fresh port, after :meth:`stop` on the same one."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        kwargs: dict[str, Any] = {"ready_timeout": 10.0}
        if self.users is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = _BoundController(_Handler(self), sock, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening; connections are refused until :meth:`start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- SMS gateway ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsRequest:
    """One webhook call as the gateway received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fields: dict[str, Any] = field(default_factory=dict)  # the JSON object or the form fields

    @property
    def text(self) -> str:
        return str(self.fields.get("text", ""))


class SmsReceiver(_Collector[SmsRequest]):
    """A real HTTP server on loopback standing in for the SMS gateway.

    ``status`` is what it answers (200 by default); ``location`` adds a Location header (redirect tests).
    Requests answered with a non-2xx status are collected too, in :attr:`attempts`; :attr:`received`
    holds only the accepted ones, i.e. the messages people would get.
    """

    def __init__(self, path: str = "/sms") -> None:
        super().__init__()
        self.path = path
        self.status = 200
        self.location: str | None = None
        self.attempts = _Collector[SmsRequest]()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the receiver first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def start(self) -> SmsReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = SmsRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                                     body, _fields(self.headers.get("Content-Type", ""), body))
                receiver.attempts._add(request)
                status = receiver.status
                if 200 <= status < 300:
                    receiver._add(request)
                answer = json.dumps({"ok": 200 <= status < 300}).encode()
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SmsReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _fields(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        value = json.loads(body or b"{}")
        return value if isinstance(value, dict) else {"_": value}
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body.decode("utf-8")).items()}
    return {}


# --- fixtures and settings -----------------------------------------------------------------


@pytest.fixture
def smtp_receiver():
    """A running :class:`SmtpReceiver` without authentication, stopped after the test."""
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def sms_receiver():
    """A running :class:`SmsReceiver` answering 200, stopped after the test."""
    with SmsReceiver() as receiver:
        yield receiver


def alert_overrides(smtp: SmtpReceiver | None = None, sms: SmsReceiver | None = None, **more: Any) -> dict[str, Any]:
    """Settings that send alerts to these receivers (plain SMTP, JSON SMS), plus ``more``."""
    values: dict[str, Any] = {"alerts_smtp_timeout_s": 5.0, "alerts_sms_timeout_s": 5.0}
    if smtp is not None:
        values.update(alerts_smtp_host=smtp.host, alerts_smtp_port=smtp.port, alerts_smtp_security="none")
    if sms is not None:
        values.update(alerts_sms_url=sms.url)
    values.update(more)
    return values


def alert_environment(smtp: SmtpReceiver | None = None, sms: SmsReceiver | None = None, **more: Any) -> dict[str, str]:
    """The same as :func:`alert_overrides`, as ``PORTAL_*`` variables for a monitor in a subprocess."""
    environment: dict[str, str] = {}
    for key, value in alert_overrides(smtp, sms, **more).items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value) if isinstance(value, dict) else ",".join(map(str, value))
        environment[f"PORTAL_{key.upper()}"] = str(value)
    return environment
