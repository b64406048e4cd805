"""Refresh-token bookkeeping: issue, rotate once, detect reuse, revoke a family or a user."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.errors import Unauthorized
from ddms.models import RefreshToken, utcnow
from ddms.security import TokenClaims


async def remember(*, session: AsyncSession, claims: TokenClaims) -> None:
    """Store a newly issued refresh token so it can be rotated or revoked later."""
    assert claims.family_id is not None
    session.add(
        RefreshToken(
            id=claims.jti,
            user_id=claims.user_id,
            family_id=claims.family_id,
            expires_at=claims.expires_at,
        )
    )
    await session.commit()


async def consume(*, session: AsyncSession, claims: TokenClaims) -> RefreshToken:
    """Mark a refresh token used; a second use revokes its whole family (stolen-token defence).

    The UPDATE ... WHERE used_at IS NULL makes the check-and-mark atomic, so two concurrent
    refreshes with one token cannot both succeed.
    """
    now = utcnow()
    marked = await session.exec(
        update(RefreshToken)
        .where(
            col(RefreshToken.id) == claims.jti,
            col(RefreshToken.used_at).is_(None),
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(used_at=now)
    )
    await session.commit()
    token = await session.get(RefreshToken, claims.jti, populate_existing=True)
    if token is None or token.user_id != claims.user_id:
        raise Unauthorized("refresh_invalid")
    if marked.rowcount == 1:
        if token.expires_at <= now:
            raise Unauthorized("refresh_expired")
        return token
    if token.used_at is not None:
        await revoke_family(session=session, family_id=token.family_id)
        raise Unauthorized("refresh_reused")
    raise Unauthorized("refresh_revoked")


async def revoke_family(*, session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    await session.commit()


async def revoke_one(*, session: AsyncSession, jti: uuid.UUID) -> None:
    await session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.id) == jti, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    await session.commit()


async def revoke_all(
    *, session: AsyncSession, user_id: uuid.UUID, except_family: uuid.UUID | None = None
) -> None:
    """Revoke every live refresh token of a user (optionally sparing one login's family)."""
    query = update(RefreshToken).where(
        col(RefreshToken.user_id) == user_id,
        col(RefreshToken.revoked_at).is_(None),
    )
    if except_family is not None:
        query = query.where(col(RefreshToken.family_id) != except_family)
    await session.exec(query.values(revoked_at=utcnow()))
    await session.commit()


async def purge_expired(*, session: AsyncSession) -> int:
    """Delete refresh tokens past their expiry (used, revoked or not); returns how many.

    An expired token is refused on its expiry alone, so its row no longer protects anything; without
    this the table grows by one row per refresh forever.
    """
    result = await session.exec(delete(RefreshToken).where(col(RefreshToken.expires_at) < utcnow()))
    await session.commit()
    return int(result.rowcount or 0)
