"""Alert channels: e-mail over SMTP and SMS through an HTTP gateway's webhook.

Each channel sends **one message to one recipient** per :meth:`send` call, so one
``monitor_alerts`` row is one delivery with its own outcome. Both raise only
:class:`DeliveryError`, whose ``detail`` is short and safe to store and show (it
never carries a password or a token); library exceptions are translated here,
at the edge, with ``raise ... from exc``.

::

    PortalError
    +-- DeliveryError         one message was not delivered (retry later; the dispatcher counts attempts)
        unreachable = True    the server could not be reached at all: the rest of the round would fail too

Nothing is read from the environment (no proxies, no CA bundle override): the
settings say where messages go.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from typing import Protocol

import requests

from portal.config import Settings, fill_template
from portal.errors import PortalError

EMAIL, SMS = "email", "sms"
REASON_LIMIT = 300  # the width of monitor_alerts.error


class DeliveryError(PortalError):
    """A message was not delivered; ``detail`` is safe to store. Safe to retry (a later tick does)."""

    code = "alert_delivery_failed"
    title = "Alert not delivered"
    http_status = 502
    retry_safe = True

    def __init__(self, detail: str, *, unreachable: bool = False) -> None:
        self.unreachable = unreachable
        super().__init__(detail[:REASON_LIMIT])


class Channel(Protocol):
    """What the dispatcher needs of a channel."""

    name: str

    @property
    def configured(self) -> bool: ...

    def send(self, recipient: str, subject: str, text: str, *, system: str = "", state: str = "") -> None: ...


class EmailChannel:
    """Plain-text UTF-8 mail through the configured SMTP relay, one connection per message."""

    name = EMAIL

    def __init__(self, settings: Settings) -> None:
        self.host = settings.alerts_smtp_host
        self.port = settings.alerts_smtp_port
        self.security = settings.alerts_smtp_security
        self.username = settings.alerts_smtp_username
        self._password = settings.alerts_smtp_password
        self.timeout = settings.alerts_smtp_timeout_s
        self.sender = settings.alerts_mail_from

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def message(self, recipient: str, subject: str, text: str) -> EmailMessage:
        """The message as it goes out: the headers every mail system expects, UTF-8 body."""
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the portal
        message.set_content(text, charset="utf-8")
        return message

    def send(self, recipient: str, subject: str, text: str, *, system: str = "", state: str = "") -> None:
        if not self.configured:
            raise DeliveryError("e-mail is not configured (alerts_smtp_host is empty)")
        where = f"SMTP {self.host}:{self.port}"
        message = self.message(recipient, subject, text)
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{where}: cannot connect: {_short(exc)}", unreachable=True) from exc
        try:
            with client:
                if self.security == "starttls":
                    client.ehlo()
                    if not client.has_extn("starttls"):
                        raise DeliveryError(f"{where}: the server does not offer STARTTLS", unreachable=True)
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if self.username:
                    client.login(self.username, self._password)
                client.send_message(message)
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"{where}: login as {self.username!r} refused ({exc.smtp_code})",
                                unreachable=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(f"{code} {_text(answer)}" for code, answer in exc.recipients.values())
            raise DeliveryError(f"{where}: recipient refused: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{where}: {_short(exc)}", unreachable=True) from exc

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


class SmsChannel:
    """A POST to the SMS gateway's webhook per message; any answer but 2xx is a failure."""

    name = SMS

    def __init__(self, settings: Settings) -> None:
        self.url = settings.alerts_sms_url
        self._token = settings.alerts_sms_token
        self.format = settings.alerts_sms_format
        self.body_template = dict(settings.alerts_sms_body)
        self.timeout = settings.alerts_sms_timeout_s
        self._http = requests.Session()
        self._http.trust_env = False  # no proxies, netrc or CA bundle from the environment
        self._http.proxies = {}
        self._http.headers["User-Agent"] = "service-desk-portal/0.1 (alerts)"

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def body(self, recipient: str, text: str, *, system: str = "", state: str = "") -> dict[str, str]:
        """The gateway's request fields, each rendered from its template."""
        values = {"phone": recipient, "text": text, "system": system, "state": state}
        return {field: fill_template(template, values) for field, template in self.body_template.items()}

    def send(self, recipient: str, subject: str, text: str, *, system: str = "", state: str = "") -> None:
        if not self.configured:
            raise DeliveryError("SMS is not configured (alerts_sms_url is empty)")
        body = self.body(recipient, text, system=system, state=state)
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        payload = {"json": body} if self.format == "json" else {"data": body}
        where = "SMS gateway"
        try:
            # Redirects are never followed: the token must not travel to another host.
            response = self._http.post(self.url, headers=headers, timeout=self.timeout,
                                       allow_redirects=False, **payload)
        except requests.Timeout as exc:
            raise DeliveryError(f"{where}: no answer within {self.timeout:g} s", unreachable=True) from exc
        except requests.ConnectionError as exc:
            raise DeliveryError(f"{where}: cannot connect: {_short(exc)}", unreachable=True) from exc
        except requests.RequestException as exc:
            raise DeliveryError(f"{where}: {_short(exc)}") from exc
        with response:
            if 300 <= response.status_code < 400:
                raise DeliveryError(f"{where}: answered {response.status_code} (redirects are not followed)")
            if not 200 <= response.status_code < 300:
                snippet = " ".join(response.text[:120].split())
                raise DeliveryError(f"{where}: answered {response.status_code} {response.reason or ''}"
                                    + (f": {snippet}" if snippet else ""))

    def close(self) -> None:
        self._http.close()


def default_channels(settings: Settings) -> list[Channel]:
    """Both channels, configured or not (the dispatcher skips the unconfigured)."""
    return [EmailChannel(settings), SmsChannel(settings)]


def _text(value: bytes | str) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)).strip()[:150]


def _short(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        root = exc.args[0] if exc.args else exc
        reason = getattr(root, "reason", root)
        text = str(reason)
        # urllib3 wraps the OS error: keep its last, human part ("Connection refused").
        return (text.rsplit(": ", 1)[-1] or type(exc).__name__)[:150]
    return (str(exc) or type(exc).__name__)[:150]
