"""Notification-channel bodies (contract section "Notification channels").

Field rules live here (a webhook URL that is not http(s) is a 422); the rules that depend on the
stored channel (required fields after a partial update) live in ``ddms.services.channels``.
``ChannelPublic`` has no field for the secrets: they are write-only by construction.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ddms.errors import InvalidValue
from ddms.models.channel import ChannelType, SmtpTls
from ddms.schemas.common import StrictInput, UTCTimestamp
from ddms.services.validation import check_host

Severity = Literal["warning", "error", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}
WEBHOOK_FIELDS = ("url", "secret")
EMAIL_FIELDS = (
    "smtp_host",
    "smtp_port",
    "smtp_tls",
    "smtp_username",
    "smtp_password",
    "email_from",
    "email_to",
)
FIELDS_OF = {ChannelType.WEBHOOK: WEBHOOK_FIELDS, ChannelType.EMAIL: EMAIL_FIELDS}
REQUIRED_OF = {
    ChannelType.WEBHOOK: ("url", "secret"),
    ChannelType.EMAIL: ("smtp_host", "email_from", "email_to"),
}
_LOCAL_PART = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def check_webhook_url(value: str) -> str:
    """An absolute http(s) URL with a host, no credentials, no spaces or control characters."""
    if _CONTROL.search(value):
        raise InvalidValue("url_control_characters")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise InvalidValue("url_invalid") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidValue("url_scheme")
    if parts.username is not None or parts.password is not None:
        raise InvalidValue("url_credentials")
    check_host(parts.hostname)
    if port == 0:
        raise InvalidValue("url_invalid")
    return value


def check_address(value: str) -> str:
    """A plain e-mail address ``local@host`` (no display name, nothing that could end a header)."""
    local, at, host = value.rpartition("@")
    if not at or not _LOCAL_PART.match(local) or len(value) > 254:
        raise InvalidValue("email_invalid")
    try:
        check_host(host)
    except ValueError:
        raise InvalidValue("email_invalid") from None
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
WebhookUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(check_webhook_url)
]
Secret = Annotated[str, StringConstraints(min_length=8, max_length=500, strip_whitespace=False)]
Host = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(check_host)]
Address = Annotated[str, StringConstraints(min_length=3, max_length=254), AfterValidator(check_address)]
SmtpUser = Annotated[str, StringConstraints(max_length=255)]
SmtpPassword = Annotated[str, StringConstraints(max_length=500, strip_whitespace=False)]


class ChannelFields(StrictInput):
    """Every settable field, all optional: the base of create (with requirements) and update."""

    name: Name | None = None
    type: ChannelType | None = None
    enabled: bool | None = None
    min_severity: Severity | None = None
    url: WebhookUrl | None = None
    secret: Secret | None = Field(default=None, description="Write-only: signs every webhook event")
    smtp_host: Host | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    smtp_tls: SmtpTls | None = None
    smtp_username: SmtpUser | None = None
    smtp_password: SmtpPassword | None = Field(default=None, description="Write-only")
    email_from: Address | None = None
    email_to: Annotated[list[Address], Field(min_length=1, max_length=50)] | None = None


class ChannelCreate(ChannelFields):
    name: Name
    type: ChannelType

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> Self:
        other = ChannelType.EMAIL if self.type is ChannelType.WEBHOOK else ChannelType.WEBHOOK
        given = [name for name in FIELDS_OF[other] if getattr(self, name) is not None]
        if given:
            raise InvalidValue(
                "channel_fields_unused", params={"fields": ", ".join(given), "type": self.type.value}
            )
        missing = [name for name in REQUIRED_OF[self.type] if getattr(self, name) is None]
        if missing:
            raise InvalidValue(
                "channel_fields_required", params={"fields": ", ".join(missing), "type": self.type.value}
            )
        return self


class ChannelUpdate(ChannelFields):
    """Partial update: only the fields present change. A secret left out (or null) stays as it is;
    ``smtp_password: ""`` removes the password, as does clearing ``smtp_username``."""


class ChannelPublic(BaseModel):
    """A channel as answered: never its secrets, only whether they are set; its delivery health."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    type: ChannelType
    enabled: bool
    min_severity: Severity
    url: str | None
    smtp_host: str | None
    smtp_port: int | None
    smtp_tls: SmtpTls | None
    smtp_username: str | None
    email_from: str | None
    email_to: list[str] | None
    secret_set: bool = Field(description="A webhook secret is stored (it is never returned)")
    smtp_password_set: bool = Field(description="An SMTP password is stored (it is never returned)")
    deliveries_pending: int = Field(description="Events waiting for delivery or a retry")
    deliveries_failed: int = Field(description="Events given up after 24 h of retries")
    last_error: str | None = Field(description="Why the latest attempt failed (null after a success)")
    last_error_at: UTCTimestamp | None
    last_delivered_at: UTCTimestamp | None
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class ChannelTestResult(BaseModel):
    """The answer of ``POST /api/channels/{id}/test``: whether the test event got through."""

    success: bool
    error: str | None
