"""Who is calling: the user id, role and token version behind an access token, cached briefly.

Every authenticated request checks that its token was not revoked (``token_version`` still matches
the user's row). The rows are small and change rarely, so they are kept in a read cache: any write
of this process to ``users`` (role change, password reset, deletion) drops it at once, and a change
made by another process (``ddms user reset-password`` on the console) is seen within
``PRINCIPAL_CACHE_SECONDS``. Routes that need the whole account (``/api/auth/me``) still load the row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.cache import ReadCache
from ddms.config import Settings
from ddms.errors import Unauthorized
from ddms.models import User
from ddms.security import decode_token

PRINCIPAL_CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Principal:
    """The part of an account that authorisation needs."""

    id: uuid.UUID
    role: str
    token_version: int


_principals: ReadCache[Principal | None] = ReadCache(tables=("users",), ttl=PRINCIPAL_CACHE_SECONDS)


async def _load(session: AsyncSession, user_id: uuid.UUID) -> Principal | None:
    query = select(User.id, User.role, User.token_version).where(User.id == user_id)
    row = (await session.exec(query)).first()
    return Principal(*row) if row is not None else None


async def principal_from_access_token(*, session: AsyncSession, settings: Settings, token: str) -> Principal:
    """The caller behind a valid, unrevoked access token; Unauthorized otherwise (same rules and
    messages as ``auth.user_from_access_token``)."""
    claims = decode_token(
        token, secret=settings.jwt_secret, algorithm=settings.jwt_algorithm, expected_type="access",
    )
    principal = await _principals.get(claims.user_id, session, lambda: _load(session, claims.user_id))
    if principal is None or principal.token_version != claims.version:
        raise Unauthorized("Token has been revoked")
    return principal
