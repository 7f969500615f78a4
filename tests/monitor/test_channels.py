"""E-mail and SMS channels against real receivers on loopback."""

from __future__ import annotations

import pytest

from portal.config import Settings
from portal.monitor.channels import DeliveryError, EmailChannel, SmsChannel
from tests.monitor.receivers import SmsReceiver, SmtpReceiver, alert_overrides


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings(**values) -> Settings:
    return Settings(**values)


def test_unconfigured_channels_say_so():
    assert not EmailChannel(settings()).configured
    assert not SmsChannel(settings()).configured
    with pytest.raises(DeliveryError, match="not configured"):
        EmailChannel(settings()).send("a@example.org", "s", "t")


def test_email_arrives_with_headers_and_utf8_text(smtp_receiver):
    channel = EmailChannel(settings(**alert_overrides(smtp_receiver), alerts_mail_from="alerts@portal.example"))
    assert channel.configured
    channel.send("ops@example.org", "DOWN: Réseau 计费", "Le système « boss » est en panne — 计费")

    [mail] = smtp_receiver.wait_for(1)
    assert mail.rcpt_tos == ("ops@example.org",)
    assert mail.mail_from == "alerts@portal.example"
    assert mail.message["From"] == "alerts@portal.example"
    assert mail.to == "ops@example.org"
    assert mail.subject == "DOWN: Réseau 计费"
    assert mail.message["Date"] and mail.message["Message-ID"].endswith("@portal.example>")
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.text.strip() == "Le système « boss » est en panne — 计费"


def test_email_logs_in_when_a_username_is_set():
    with SmtpReceiver(users={"portal": "s3cret-pw"}) as server:
        good = EmailChannel(settings(**alert_overrides(server), alerts_smtp_username="portal",
                                     alerts_smtp_password="s3cret-pw"))
        good.send("a@example.org", "s", "t")
        assert server.wait_for(1)[0].login == "portal"

        bad = EmailChannel(settings(**alert_overrides(server), alerts_smtp_username="portal",
                                    alerts_smtp_password="wrong-pw-123"))
        with pytest.raises(DeliveryError) as caught:
            bad.send("a@example.org", "s", "t")
        assert "login as 'portal' refused" in caught.value.detail
        assert "wrong-pw-123" not in caught.value.detail
        assert len(server.received) == 1


def test_email_to_a_server_that_is_not_there_fails_as_unreachable():
    channel = EmailChannel(settings(alerts_smtp_host="127.0.0.1", alerts_smtp_port=closed_port(),
                                    alerts_smtp_security="none", alerts_smtp_timeout_s=5))
    with pytest.raises(DeliveryError) as caught:
        channel.send("a@example.org", "s", "t")
    assert caught.value.unreachable
    assert "cannot connect" in caught.value.detail


def test_starttls_required_but_not_offered_is_refused_before_anything_is_sent(smtp_receiver):
    channel = EmailChannel(settings(**alert_overrides(smtp_receiver, alerts_smtp_security="starttls"),
                                    alerts_smtp_username="portal", alerts_smtp_password="pw"))
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
        channel.send("a@example.org", "s", "t")
    assert smtp_receiver.received == []


def test_a_refused_message_reports_the_server_answer(smtp_receiver):
    smtp_receiver.reject = "451 4.3.0 try again later"
    with pytest.raises(DeliveryError) as caught:
        EmailChannel(settings(**alert_overrides(smtp_receiver))).send("a@example.org", "s", "t")
    assert "451" in caught.value.detail and "try again later" in caught.value.detail
    assert not caught.value.unreachable


def test_sms_json_body_from_the_template_with_bearer_token(sms_receiver):
    channel = SmsChannel(settings(**alert_overrides(sms=sms_receiver), alerts_sms_token="tok-123",
                                  alerts_sms_body={"msisdn": "{phone}", "message": "[{state}] {system}: {text}"}))
    channel.send("+8613800000000", "ignored subject", "BOSS is down 计费", system="boss", state="down")

    [request] = sms_receiver.wait_for(1)
    assert request.path == "/sms"
    assert request.headers["authorization"] == "Bearer tok-123"
    assert request.headers["content-type"].startswith("application/json")
    assert request.fields == {"msisdn": "+8613800000000", "message": "[down] boss: BOSS is down 计费"}


def test_sms_form_body_without_token(sms_receiver):
    channel = SmsChannel(settings(**alert_overrides(sms=sms_receiver), alerts_sms_format="form"))
    channel.send("13800000000", "s", "BOSS & co = down")

    [request] = sms_receiver.wait_for(1)
    assert "authorization" not in request.headers
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.fields == {"to": "13800000000", "text": "BOSS & co = down"}


def test_sms_gateway_error_carries_the_status_not_the_token(sms_receiver):
    sms_receiver.status = 500
    channel = SmsChannel(settings(**alert_overrides(sms=sms_receiver), alerts_sms_token="tok-secret"))
    with pytest.raises(DeliveryError) as caught:
        channel.send("13800000000", "s", "t")
    assert "500" in caught.value.detail
    assert "tok-secret" not in caught.value.detail
    assert len(sms_receiver.attempts.received) == 1 and sms_receiver.received == []


def test_sms_redirects_are_not_followed(sms_receiver):
    with SmsReceiver() as elsewhere:
        sms_receiver.status, sms_receiver.location = 302, elsewhere.url
        channel = SmsChannel(settings(**alert_overrides(sms=sms_receiver), alerts_sms_token="tok-secret"))
        with pytest.raises(DeliveryError, match="302"):
            channel.send("13800000000", "s", "t")
        assert elsewhere.attempts.received == []


def test_sms_gateway_not_there_is_unreachable():
    channel = SmsChannel(settings(alerts_sms_url=f"http://127.0.0.1:{closed_port()}/sms", alerts_sms_timeout_s=5))
    with pytest.raises(DeliveryError) as caught:
        channel.send("13800000000", "s", "t")
    assert caught.value.unreachable


def test_receiver_settings_reach_a_subprocess_through_the_environment(smtp_receiver, sms_receiver):
    from portal.config import load_settings
    from tests.monitor.receivers import alert_environment

    environ = alert_environment(smtp_receiver, sms_receiver, alerts_sms_body={"to": "{phone}", "m": "{text}"},
                                alerts_extra_emails=["noc@ops.example"])
    loaded = load_settings(environ=environ)
    assert (loaded.alerts_smtp_port, loaded.alerts_sms_url) == (smtp_receiver.port, sms_receiver.url)
    assert loaded.alerts_sms_body == {"to": "{phone}", "m": "{text}"}
    assert loaded.alerts_extra_emails == ["noc@ops.example"]
