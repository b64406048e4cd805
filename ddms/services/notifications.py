"""Per-user notifications: the list, unread count, read/dismiss, and live delivery to open streams.

Notifications are written by the collector's writer with the alarm transitions that cause them and
published on the bus after commit (``bus.on_notifications``). ``NotificationFanout`` registers once
on the bus and hands each item to the open streams of its user only (no polling, no query per
subscriber).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.bus import Bus, get_bus
from ddms.errors import Invalid, NotFound
from ddms.models import Notification, utcnow
from ddms.schemas.alarms import NotificationOut, NotificationPage

MAX_LIMIT = 100
HEARTBEAT_SECONDS = 15.0


def _out(row: Notification) -> NotificationOut:
    return NotificationOut.model_validate(row)


async def list_for_user(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    unread_only: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> NotificationPage:
    """The user's notifications newest first, with totals."""
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise Invalid("page_bounds", params={"max": MAX_LIMIT})
    where = [col(Notification.user_id) == user_id]
    if unread_only:
        where.append(col(Notification.read_at).is_(None))
    total = (await session.exec(select(func.count()).select_from(Notification).where(*where))).one()
    rows = (
        await session.exec(
            select(Notification)
            .where(*where)
            .order_by(col(Notification.created_at).desc(), col(Notification.id))
            .limit(limit)
            .offset(offset)
        )
    ).all()
    unread = total if unread_only else await unread_count(session=session, user_id=user_id)
    return NotificationPage(
        notifications=[_out(row) for row in rows],
        total=int(total),
        unread_count=int(unread),
        limit=limit,
        offset=offset,
        has_more=offset + len(rows) < total,
    )


async def unread_count(*, session: AsyncSession, user_id: uuid.UUID) -> int:
    query = (
        select(func.count())
        .select_from(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
    )
    return int((await session.exec(query)).one())


async def _own(session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
    row = await session.get(Notification, notification_id, populate_existing=True)
    if row is None or row.user_id != user_id:  # another user's is as unknown as a missing one
        raise NotFound("notification_not_found")
    return row


async def mark_read(
    *, session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID
) -> NotificationOut:
    row = await _own(session, user_id, notification_id)
    if row.read_at is None:
        row.read_at = utcnow()
        session.add(row)
        await session.commit()
    return _out(row)


async def mark_all_read(*, session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.exec(
        update(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
        .values(read_at=utcnow())
    )
    await session.commit()
    return int(result.rowcount or 0)


async def dismiss(*, session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> None:
    row = await _own(session, user_id, notification_id)
    await session.exec(delete(Notification).where(col(Notification.id) == row.id))
    await session.commit()


async def purge_before(*, session: AsyncSession, cutoff: datetime) -> int:
    """Delete notifications created before ``cutoff`` (the retention job)."""
    result = await session.exec(delete(Notification).where(col(Notification.created_at) < cutoff))
    await session.commit()
    return int(result.rowcount or 0)


# --- live delivery ---------------------------------------------------------------------------------
class NotificationFanout:
    """Routes committed notifications to the queues of their user's open streams."""

    def __init__(self, bus: Bus | None = None, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._queues: dict[uuid.UUID, set[asyncio.Queue[NotificationOut]]] = {}
        self._unregister: Callable[[], None] | None = None
        self._bus = bus

    def _deliver(self, items: list[NotificationOut]) -> None:
        for item in items:
            for queue in self._queues.get(item.user_id, ()):
                if queue.full():  # a reader that fell behind loses the oldest, never blocks the writer
                    queue.get_nowait()
                queue.put_nowait(item)

    @asynccontextmanager
    async def subscribe(self, user_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[NotificationOut]]:
        if self._unregister is None:
            self._unregister = (self._bus or get_bus()).on_notifications(self._deliver)
        queue: asyncio.Queue[NotificationOut] = asyncio.Queue(self.maxsize)
        self._queues.setdefault(user_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._queues.get(user_id, set())
            queues.discard(queue)
            if not queues:
                self._queues.pop(user_id, None)
            if not self._queues and self._unregister is not None:
                self._unregister()
                self._unregister = None


async def events(
    fanout: NotificationFanout, user_id: uuid.UUID, heartbeat: float
) -> AsyncGenerator[bytes, None]:
    """SSE chunks for one user: a comment at once (the stream is open), then ``event: notification``
    per new notification and a comment heartbeat after ``heartbeat`` idle seconds."""
    async with fanout.subscribe(user_id) as queue:
        yield b": connected\n\n"
        while True:
            try:
                async with asyncio.timeout(heartbeat):
                    item = await queue.get()
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            yield b"event: notification\ndata: " + item.model_dump_json().encode() + b"\n\n"
