"""Display tokens: links the owner makes for wall screens, which have no keyboard to sign in with.

When PUBLIC_STREAM is false, ``/display`` (or ``/display/{group_id}`` for a link bound to one group)
and ``/api/devices/stream`` accept ``?token=<secret>``. The secret is 256 random bits, shown once when
the link is made; only its SHA-256 is stored (a fast hash is right for a high-entropy random secret:
there is nothing to brute-force). Revoking deletes the row and tells open streams and displays on the
bus, so they end at once; otherwise they re-check within a minute (ddms/services/stream_access.py).
A display token authorises watching live values and nothing else: every other route wants a JWT.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.bus import Revocation, get_bus
from ddms.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from ddms.models import DisplayToken, Group, utcnow
from ddms.schemas.display_tokens import DisplayTokenCreate, DisplayTokenPublic
from ddms.services import groups
from ddms.services.unique import commit_unique, ensure_unique

logger = logging.getLogger(__name__)

PREFIX = "ddms_display_"
SECRET_BYTES = 32
# last_used_at is written at most this often per link (a re-check each minute must not write each time).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new link and its secret (the only time the secret is known)."""

    token: DisplayTokenPublic
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def is_display_token(token: str) -> bool:
    """Display tokens carry a prefix, so a stream can tell them from a JWT without trying both."""
    return token.startswith(PREFIX)


def display_path(group_id: uuid.UUID | None) -> str:
    return "/display" if group_id is None else f"/display/{group_id}"


def link(base_url: str, token: DisplayTokenPublic, secret: str) -> str:
    """The full address to open on the screen: ``<base>/display[/<group>]?token=<secret>``."""
    return f"{base_url.rstrip('/')}{token.path}?token={secret}"


def _public(token: DisplayToken, group_name: str | None) -> DisplayTokenPublic:
    return DisplayTokenPublic(
        id=token.id,
        name=token.name,
        group_id=token.group_id,
        group_name=group_name,
        path=display_path(token.group_id),
        created_at=token.created_at,
        last_used_at=token.last_used_at,
    )


async def create_token(*, session: AsyncSession, data: DisplayTokenCreate) -> IssuedToken:
    """A new named link (names are unique, so the list tells screens apart), optionally for one group."""
    group_name = None
    if data.group_id is not None:
        try:  # a group named in the body, not the path: bad input (400), as a group's unknown devices
            group_name = (await groups.get_group(session=session, group_id=data.group_id)).name
        except NotFound:
            raise Invalid("unknown_group", field="group_id", params={"id": str(data.group_id)}) from None
    taken = Conflict("display_name_taken", field="name", params={"name": data.name})
    await ensure_unique(session, DisplayToken.name, data.name, taken)
    secret = PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    token = DisplayToken(name=data.name, token_hash=hash_secret(secret), group_id=data.group_id)
    session.add(token)
    await commit_unique(session, taken)
    logger.info("display link created", extra={"display_token_id": str(token.id)})
    return IssuedToken(_public(token, group_name), secret)


async def list_tokens(*, session: AsyncSession) -> list[DisplayTokenPublic]:
    """Every live link by name, with its group's name; never the secret or its hash."""
    query = (
        select(DisplayToken, Group.name)
        .outerjoin(Group, Group.id == DisplayToken.group_id)  # type: ignore[arg-type]
        .order_by(DisplayToken.name)
    )
    return [_public(token, group_name) for token, group_name in (await session.exec(query)).all()]


async def revoke_token(*, session: AsyncSession, token_id: uuid.UUID) -> None:
    """Delete the link; screens showing it are told on the bus and stop at once."""
    token = await session.get(DisplayToken, token_id)
    if token is None:
        raise NotFound("display_not_found")
    await session.delete(token)
    await session.commit()
    logger.info("display link revoked", extra={"display_token_id": str(token_id)})
    get_bus().revoked(Revocation(display_token_id=token_id))


async def verify(*, session: AsyncSession, secret: str, now: datetime | None = None) -> DisplayToken:
    """The live link behind ``secret`` (Unauthorized when unknown or revoked); notes its last use."""
    if not is_display_token(secret):
        raise Unauthorized("display_invalid")
    token = (
        await session.exec(select(DisplayToken).where(DisplayToken.token_hash == hash_secret(secret)))
    ).first()
    if token is None:
        raise Unauthorized("display_invalid")
    moment = now or utcnow()
    if token.last_used_at is None or moment - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = moment
        session.add(token)
        await session.commit()
    return token


def check_display(token: DisplayToken, group_id: uuid.UUID | None) -> None:
    """A link bound to a group opens only that group's display (Forbidden elsewhere)."""
    if token.group_id is not None and token.group_id != group_id:
        raise Forbidden("display_other_group")


async def allowed_devices(*, session: AsyncSession, token: DisplayToken) -> frozenset[uuid.UUID] | None:
    """The devices the link may watch: its group's current members, or None for every device."""
    if token.group_id is None:
        return None
    members = await groups.group_devices(session=session, group_id=token.group_id)
    return frozenset(device.id for device in members)
