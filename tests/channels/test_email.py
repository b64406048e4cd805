"""E-mail delivery against real SMTP servers on loopback (aiosmtpd): plain with AUTH, STARTTLS with a
certificate made for the test, and servers that refuse, stay silent or hang up: those deliveries are
retried and their failure shows on the channel, while a webhook channel is served meanwhile."""

from __future__ import annotations

import email
import json
from email.message import Message

import pytest

from ddms.services.delivery import Senders
from tests.channels.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    Harness,
    Receiver,
    SmtpServer,
    alarm,
    channel_state,
    email_fields,
    eventually,
    make_channel,
    misbehaving_server,
    publish,
    webhook_fields,
)


def parsed(server: SmtpServer, index: int = 0) -> Message:
    content = server.mailbox.messages[index].content
    assert isinstance(content, bytes)
    return email.message_from_bytes(content)


async def test_plain_smtp_with_login_delivers_a_readable_summary(
    harness: Harness, smtp_plain: SmtpServer
) -> None:
    channel = await make_channel(**email_fields(smtp_plain.port, "none"))
    subject = alarm("critical", device_name="Boiler 3\r\nBcc: evil@example.com", value=97.25)
    publish("raised", subject)
    await eventually(lambda: smtp_plain.mailbox.messages, what="the message arrived")
    envelope = smtp_plain.mailbox.messages[0]
    assert envelope.mail_from == "ddms@plant.example"
    assert sorted(envelope.rcpt_tos) == ["boss@plant.example", "oncall@plant.example"]
    assert smtp_plain.mailbox.logins == [(SMTP_USER, SMTP_PASSWORD)]
    message = parsed(smtp_plain)
    assert message["Subject"] == "[DDMS] CRITICAL Alarm raised: Boiler 3 Bcc: evil@example.com"
    assert message["Bcc"] is None  # a device name cannot add a header
    assert message.get_content_type() == "text/plain"
    body = message.get_payload(decode=True).decode()
    for line in ("Device: Boiler 3 Bcc: evil@example.com", "Value: 97.25", "Threshold: 90.0"):
        assert line in body
    assert f"Alarm id: {subject.id}" in body
    state = await eventually(lambda: _delivered(channel.id), what="recorded as delivered")
    assert state.last_error is None


async def _delivered(channel_id):  # type: ignore[no-untyped-def]
    state = await channel_state(channel_id)
    return state if state.last_delivered_at is not None else None


async def test_starttls_with_a_verified_certificate(harness: Harness, smtp_starttls: SmtpServer) -> None:
    harness.service.senders = Senders(smtp_timeout=5.0, tls_context=smtp_starttls.client_tls)
    await make_channel(**email_fields(smtp_starttls.port, "starttls"))
    publish("cleared", alarm("warning", state="cleared"))
    await eventually(lambda: smtp_starttls.mailbox.messages, what="the message arrived over STARTTLS")
    assert smtp_starttls.mailbox.logins == [(SMTP_USER, SMTP_PASSWORD)]
    assert parsed(smtp_starttls)["Subject"] == "[DDMS] WARNING Alarm cleared: Boiler 3"


async def test_starttls_refuses_an_untrusted_certificate(harness: Harness, smtp_starttls: SmtpServer) -> None:
    channel = await make_channel(**email_fields(smtp_starttls.port, "starttls"))  # system trust only
    publish("raised", alarm())
    state = await eventually(lambda: _failed_once(channel.id), what="the attempt failed")
    assert "certificate" in state.last_error.lower()
    assert smtp_starttls.mailbox.messages == []
    assert smtp_starttls.mailbox.logins == []


async def _failed_once(channel_id):  # type: ignore[no-untyped-def]
    state = await channel_state(channel_id)
    return state if state.last_error is not None else None


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("refuse", "recipients refused"),
        ("silent", "timed out"),
        ("drop", "Unexpected EOF"),
        ("closed", "Error connecting"),
    ],
)
async def test_a_broken_smtp_server_is_retried_and_costs_the_other_channels_nothing(
    harness: Harness, receiver: Receiver, smtp_plain: SmtpServer, fault: str, reason: str
) -> None:
    # Only the silent server is meant to time out: the others get time enough that a loaded machine
    # cannot turn their answer (refusal, dropped connection) into a timeout.
    smtp_timeout = 1.0 if fault == "silent" else 10.0
    harness.service.senders = Senders(webhook_timeout=3.0, smtp_timeout=smtp_timeout)
    async with misbehaving_server(fault) as broken_port:
        port = smtp_plain.port if fault == "refuse" else broken_port
        smtp_plain.mailbox.refuse = fault == "refuse"
        mail = await make_channel(**email_fields(port, "none"))
        hook = await make_channel(**webhook_fields(receiver))
        publish("raised", alarm())
        await eventually(lambda: receiver.calls, what="the webhook got its event regardless")
        state = await eventually(lambda: _failed_once(mail.id), within=30, what="the e-mail attempt failed")
        assert reason in state.last_error
        assert state.deliveries_pending == 1
        assert state.deliveries_failed == 0
        assert (await channel_state(hook.id)).deliveries_pending == 0
        smtp_plain.mailbox.refuse = False
    # The server is fixed (or, for the broken ones, the channel pointed at a working one).
    from ddms import db
    from ddms.schemas.channels import ChannelUpdate
    from ddms.services import channels

    async with db.session_scope() as session:
        await channels.update_channel(
            session=session, channel_id=mail.id, data=ChannelUpdate(smtp_port=smtp_plain.port)
        )
    assert await harness.advance_to_next_attempt() == 10.0
    await eventually(lambda: smtp_plain.mailbox.messages, what="the retry got through")
    state = await eventually(lambda: _delivered(mail.id), what="recorded as delivered")
    assert state.last_error is None
    assert state.deliveries_pending == 0
    assert json.loads(receiver.calls[0].body)["event"] == "raised"
    assert len(receiver.calls) == 1  # the webhook was not sent twice
