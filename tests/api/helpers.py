"""Helpers shared by the API and service tests: users with a once-per-session bcrypt hash, tokens."""

from __future__ import annotations

import uuid
from functools import cache

from ddms import db
from ddms.config import Settings
from ddms.models import Device, Reading, User, utcnow
from ddms.security import _context
from ddms.services import auth

USER_PASSWORD = "user-password-1"
OWNER_PASSWORD = "owner-password-1"


@cache
def password_hash(password: str) -> str:
    """bcrypt costs ~0.25 s: hash each test password once per session."""
    return _context.hash(password)


async def add_user(username: str, role: str, password: str = USER_PASSWORD, language: str = "en") -> User:
    """Insert a user directly (no API, no new bcrypt round)."""
    async with db.session_scope() as session:
        user = User(
            username=username, password_hash=password_hash(password), role=role, language_preference=language
        )
        session.add(user)
        await session.commit()
        return user


async def owner_user() -> User:
    """The one owner account (created by the ``app`` fixture or the lifespan)."""
    from sqlmodel import select

    async with db.session_scope() as session:
        return (await session.exec(select(User).where(User.role == "owner"))).one()


async def tokens_for(settings: Settings, user: User) -> auth.IssuedTokens:
    """An access/refresh pair as login would issue it, without a bcrypt check."""
    async with db.session_scope() as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        return await auth.issue(session=session, settings=settings, user=fresh, family_id=uuid.uuid4())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def add_readings(device_id: uuid.UUID | str, count: int) -> None:
    """Readings written straight through the ORM, as the collector would."""
    now = utcnow()
    async with db.session_scope() as session:
        for index in range(count):
            session.add(
                Reading(
                    device_id=uuid.UUID(str(device_id)),
                    timestamp=now.replace(microsecond=index),
                    value=float(index),
                )
            )
        await session.commit()


async def count_rows(model: type, **where: object) -> int:
    from sqlmodel import func, select

    async with db.session_scope() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int((await session.exec(query)).one())


async def device_row(device_id: uuid.UUID | str) -> Device | None:
    async with db.session_scope() as session:
        return await session.get(Device, uuid.UUID(str(device_id)))
