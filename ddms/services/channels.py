"""Notification channels: the owner's webhook and e-mail destinations for alarm transitions.

CRUD with the contract's rules. Secrets (webhook ``secret``, ``smtp_password``) are write-only: they
are stored, used by ``ddms.services.delivery``, and never put in an answer (``ChannelPublic`` has no
field for them) or a log line (only channel ids are logged). Each answer carries the channel's
delivery health: pending and failed deliveries, the latest error.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.errors import Conflict, Invalid, NotFound
from ddms.models import ChannelDelivery, ChannelType, DeliveryState, NotificationChannel, SmtpTls, utcnow
from ddms.schemas.channels import (
    FIELDS_OF,
    REQUIRED_OF,
    SEVERITY_RANK,
    ChannelCreate,
    ChannelPublic,
    ChannelUpdate,
)
from ddms.services.unique import commit_unique, ensure_unique

logger = logging.getLogger(__name__)

DEFAULT_SMTP_PORT = {SmtpTls.NONE: 25, SmtpTls.STARTTLS: 587, SmtpTls.TLS: 465}
SECRETS = ("secret", "smtp_password")


def admits(channel: NotificationChannel, severity: str) -> bool:
    """Whether an alarm of ``severity`` reaches ``channel`` (its ``min_severity`` or worse)."""
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK[channel.min_severity]


async def get_row(*, session: AsyncSession, channel_id: uuid.UUID) -> NotificationChannel:
    """The stored channel, secrets included: for delivery only, never for an answer."""
    channel = await session.get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFound("channel_not_found")
    return channel


async def enabled_rows(*, session: AsyncSession) -> list[NotificationChannel]:
    query = select(NotificationChannel).where(col(NotificationChannel.enabled).is_(True))
    return list((await session.exec(query)).all())


async def _counts(session: AsyncSession, channel_ids: list[uuid.UUID]) -> dict[tuple[uuid.UUID, str], int]:
    if not channel_ids:
        return {}
    query = (
        select(ChannelDelivery.channel_id, ChannelDelivery.state, func.count())
        .where(
            col(ChannelDelivery.channel_id).in_(channel_ids),
            col(ChannelDelivery.state).in_([DeliveryState.PENDING, DeliveryState.FAILED]),
        )
        .group_by(col(ChannelDelivery.channel_id), col(ChannelDelivery.state))
    )
    return {(channel_id, state): count for channel_id, state, count in (await session.exec(query)).all()}


def _public(channel: NotificationChannel, counts: dict[tuple[uuid.UUID, str], int]) -> ChannelPublic:
    return ChannelPublic(
        id=channel.id,
        name=channel.name,
        type=ChannelType(channel.type),
        enabled=channel.enabled,
        min_severity=channel.min_severity,  # type: ignore[arg-type]  # stored from a Severity
        url=channel.url,
        smtp_host=channel.smtp_host,
        smtp_port=channel.smtp_port,
        smtp_tls=SmtpTls(channel.smtp_tls) if channel.smtp_tls else None,
        smtp_username=channel.smtp_username,
        email_from=channel.email_from,
        email_to=channel.email_to,
        secret_set=bool(channel.secret),
        smtp_password_set=bool(channel.smtp_password),
        deliveries_pending=counts.get((channel.id, DeliveryState.PENDING), 0),
        deliveries_failed=counts.get((channel.id, DeliveryState.FAILED), 0),
        last_error=channel.last_error,
        last_error_at=channel.last_error_at,
        last_delivered_at=channel.last_delivered_at,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


async def list_channels(*, session: AsyncSession) -> list[ChannelPublic]:
    """Every channel by name, with its delivery health; never a secret."""
    rows = list((await session.exec(select(NotificationChannel).order_by(NotificationChannel.name))).all())
    counts = await _counts(session, [row.id for row in rows])
    return [_public(row, counts) for row in rows]


async def get_channel(*, session: AsyncSession, channel_id: uuid.UUID) -> ChannelPublic:
    channel = await get_row(session=session, channel_id=channel_id)
    return _public(channel, await _counts(session, [channel.id]))


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    """Defaults of the channel's type; a username cleared takes the password with it."""
    if fields["type"] == ChannelType.EMAIL:
        fields["smtp_tls"] = fields.get("smtp_tls") or SmtpTls.STARTTLS
        fields["smtp_port"] = fields.get("smtp_port") or DEFAULT_SMTP_PORT[SmtpTls(fields["smtp_tls"])]
        if not fields.get("smtp_username"):
            fields["smtp_username"] = None
            fields["smtp_password"] = None
        if not fields.get("smtp_password"):
            fields["smtp_password"] = None
    return fields


def _taken(name: str) -> Conflict:
    return Conflict("channel_name_taken", field="name", params={"name": name})


async def create_channel(*, session: AsyncSession, data: ChannelCreate) -> ChannelPublic:
    await ensure_unique(session, col(NotificationChannel.name), data.name, _taken(data.name))
    fields = _normalise(data.model_dump(exclude_none=True))
    channel = NotificationChannel(**fields)
    session.add(channel)
    await commit_unique(session, _taken(data.name))
    logger.info("notification channel created", extra={"channel_id": str(channel.id), "type": channel.type})
    return await get_channel(session=session, channel_id=channel.id)


async def update_channel(
    *, session: AsyncSession, channel_id: uuid.UUID, data: ChannelUpdate
) -> ChannelPublic:
    """Partial update. The type cannot change; a secret left out (or null) is kept as stored."""
    channel = await get_row(session=session, channel_id=channel_id)
    kind = ChannelType(channel.type)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("type") not in (None, kind):
        raise Invalid("channel_type_fixed", field="type")
    changes.pop("type", None)
    other = FIELDS_OF[ChannelType.EMAIL if kind is ChannelType.WEBHOOK else ChannelType.WEBHOOK]
    given = sorted(name for name in other if changes.get(name) is not None)
    if given:
        raise Invalid("channel_fields_unused", params={"fields": ", ".join(given), "type": kind.value})
    for name in ("name", "enabled", "min_severity", *SECRETS):
        if name in changes and changes[name] is None:
            del changes[name]  # null means "unchanged" for these (a secret is never sent back)
    if "smtp_password" in changes and "smtp_username" not in changes and not channel.smtp_username:
        raise Invalid("smtp_password_needs_username", field="smtp_password")
    merged = {name: getattr(channel, name) for name in ChannelCreate.model_fields} | changes
    merged["type"] = kind
    missing = [name for name in REQUIRED_OF[kind] if merged.get(name) is None]
    if missing:
        raise Invalid("channel_fields_required", params={"fields": ", ".join(missing), "type": kind.value})
    if "name" in changes:
        name = changes["name"]
        await ensure_unique(
            session,
            col(NotificationChannel.name),
            name,
            _taken(name),
            col(NotificationChannel.id) != channel.id,
        )
    for name, value in _normalise(merged).items():
        setattr(channel, name, value)
    channel.updated_at = utcnow()
    session.add(channel)
    await commit_unique(session, _taken(channel.name))
    logger.info("notification channel updated", extra={"channel_id": str(channel.id)})
    return await get_channel(session=session, channel_id=channel.id)


async def delete_channel(*, session: AsyncSession, channel_id: uuid.UUID) -> None:
    """Remove the channel and its queued deliveries (a pending event has nowhere to go any more)."""
    channel = await get_row(session=session, channel_id=channel_id)
    await session.delete(channel)
    await session.commit()
    logger.info("notification channel deleted", extra={"channel_id": str(channel_id)})
