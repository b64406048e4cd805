"""The one unique-name rule of accounts, devices, groups and display links.

A friendly check before the write (so the user gets the field's message, not a constraint error),
and the unique index as the last word when two writers race: both raise the same ``Conflict``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.errors import Conflict


async def ensure_unique(session: AsyncSession, column: Any, value: str, taken: Conflict, *where: Any) -> None:
    """Raise ``taken`` when a row matching ``where`` ("not this one", "not deleted") holds ``value``."""
    query = select(func.count()).select_from(column.class_).where(column == value, *where)
    if (await session.exec(query)).one():
        raise taken


async def commit_unique(session: AsyncSession, taken: Conflict, *, flush_only: bool = False) -> None:
    """Commit (or flush); a unique index violation, lost to a concurrent writer, becomes ``taken``."""
    try:
        await (session.flush() if flush_only else session.commit())
    except IntegrityError:
        await session.rollback()
        raise taken from None
