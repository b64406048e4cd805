"""E-mail delivery through SMTP (aiosmtplib): plain, STARTTLS or implicit TLS, optional login.

The message is plain text: a subject naming severity, transition and device, and a short summary
of the alarm. Values from the alarm (a device name) never reach a header unescaped: control
characters are replaced before they go into the subject. Certificates are verified (the system
trust store, or the ``tls_context`` given).
"""

from __future__ import annotations

import re
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib

from ddms.models import NotificationChannel, SmtpTls
from ddms.services.webhook import DeliveryFailed, describe

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
TITLES = {
    "raised": "Alarm raised",
    "escalated": "Alarm escalated",
    "deescalated": "Alarm de-escalated",
    "cleared": "Alarm cleared",
    "acknowledged": "Alarm acknowledged",
    "test": "Test message",
}
SUMMARY_FIELDS = (
    ("Device", "device_name"),
    ("Kind", "kind"),
    ("Severity", "severity"),
    ("State", "state"),
    ("Value", "value"),
    ("Peak value", "peak_value"),
    ("Threshold", "threshold"),
    ("Raised at", "raised_at"),
    ("Cleared at", "cleared_at"),
    ("Acknowledged at", "acknowledged_at"),
    ("Acknowledged by", "acknowledged_by"),
    ("Comment", "comment"),
    ("Alarm id", "id"),
)


def _one_line(text: object) -> str:
    return _CONTROL.sub(" ", str(text)).strip()


def compose(channel: NotificationChannel, event: dict[str, Any]) -> EmailMessage:
    """The message for ``event`` (the contract event, ``sent_at`` included)."""
    transition = str(event.get("event", ""))
    alarm: dict[str, Any] = event.get("alarm") or {}
    title = TITLES.get(transition, transition)
    severity = str(alarm.get("severity", "")).upper()
    message = EmailMessage()
    message["Subject"] = _one_line(f"[DDMS] {severity} {title}: {alarm.get('device_name', '')}")[:200]
    message["From"] = channel.email_from or ""
    message["To"] = ", ".join(channel.email_to or [])
    sent_at = str(event.get("sent_at", ""))
    if sent_at:
        message["Date"] = format_datetime(datetime.fromisoformat(sent_at))
    message["Message-ID"] = make_msgid(domain="ddms.local")
    lines = [f"{title}.", ""]
    if transition == "test":
        lines = ["This is a test message from DDMS: this channel works.", ""]
    for label, key in SUMMARY_FIELDS:
        value = alarm.get(key)
        if value is not None and value != "":
            lines.append(f"{label}: {_one_line(value)}")
    lines += ["", f"Sent at: {sent_at}", "", "-- DDMS (Device Data Monitoring System)"]
    message.set_content("\n".join(lines) + "\n")
    return message


async def send(
    channel: NotificationChannel,
    event: dict[str, Any],
    *,
    time_limit: float,
    tls_context: ssl.SSLContext | None = None,
) -> None:
    """Send ``event`` to the channel's recipients; raises ``DeliveryFailed`` with the reason."""
    tls = SmtpTls(channel.smtp_tls or SmtpTls.STARTTLS)
    try:
        await aiosmtplib.send(
            compose(channel, event),
            hostname=channel.smtp_host,
            port=channel.smtp_port,
            username=channel.smtp_username or None,
            password=channel.smtp_password if channel.smtp_username else None,
            use_tls=tls is SmtpTls.TLS,
            start_tls=tls is SmtpTls.STARTTLS,
            tls_context=tls_context,
            timeout=time_limit,  # per SMTP step: connect, each command
        )
    except aiosmtplib.SMTPTimeoutError:
        raise DeliveryFailed("timed out waiting for the SMTP server") from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = "; ".join(f"{error.recipient}: {error.code} {error.message}" for error in exc.recipients)
        raise DeliveryFailed(f"recipients refused: {_one_line(refused)}"[:300]) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise DeliveryFailed(f"SMTP server answered {exc.code}: {_one_line(exc.message)}"[:300]) from None
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryFailed(_one_line(describe(exc))) from None
