"""Signed-in browsers shared by every instance (``ddms.models.BrowserSession``).

Written at login and at a password change (the session's new token version), read when a browser
arrives at an instance that has no storage of it, marked used by the hourly sweep of the browsers
seen, deleted at logout, with its user, and after the refresh token's lifetime unused (``purge``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.models import BrowserSession, utcnow


async def save(
    *, session: AsyncSession, browser_id: str, user_id: uuid.UUID, token_version: int, timezone: str | None
) -> None:
    row = await session.get(BrowserSession, browser_id)
    if row is None:
        row = BrowserSession(browser_id=browser_id, user_id=user_id, token_version=token_version)
    row.user_id, row.token_version, row.used_at = user_id, token_version, utcnow()
    if timezone is not None:
        row.timezone = timezone
    session.add(row)
    await session.commit()


async def find(*, session: AsyncSession, browser_id: str) -> BrowserSession | None:
    return await session.get(BrowserSession, browser_id)


async def mark_used(*, session: AsyncSession, browser_ids: Collection[str], now: datetime) -> None:
    """The browsers seen since the last sweep were used: their rows stay (``pages.session_store``)."""
    if browser_ids:
        await session.exec(
            update(BrowserSession).where(col(BrowserSession.browser_id).in_(browser_ids)).values(used_at=now)
        )
        await session.commit()


async def forget(*, session: AsyncSession, browser_id: str) -> None:
    await session.exec(delete(BrowserSession).where(col(BrowserSession.browser_id) == browser_id))
    await session.commit()


async def purge(*, session: AsyncSession, max_age: timedelta, now: datetime | None = None) -> int:
    """Delete the rows unused for longer than ``max_age``; returns how many went."""
    cutoff = (now or utcnow()) - max_age
    result = await session.exec(delete(BrowserSession).where(col(BrowserSession.used_at) < cutoff))
    await session.commit()
    return int(result.rowcount or 0)
