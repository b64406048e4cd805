"""Account services on both backends: owner bootstrap, refresh-token rotation under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from ddms import db
from ddms.config import Settings
from ddms.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from ddms.models import RefreshToken, Role, User, utcnow
from ddms.schemas.users import UserCreate, UserUpdate
from ddms.security import decode_token, verify_password
from ddms.services import auth, tokens, users
from tests.api.helpers import add_user, count_rows, tokens_for


async def test_owner_is_created_once(database: db.Database) -> None:
    async with db.session_scope() as session:
        generated = await users.ensure_owner(session=session, password=None)
        assert generated is not None
        assert len(generated) >= 12
        assert await users.ensure_owner(session=session, password="another-password") is None
        owner = await users.find_by_username(session=session, username="admin")
        assert owner is not None
        assert owner.role == Role.OWNER
        assert await verify_password(generated, owner.password_hash)
    assert await count_rows(User) == 1


async def test_owner_with_configured_password(database: db.Database) -> None:
    async with db.session_scope() as session:
        assert await users.ensure_owner(session=session, password="configured-1") is None
        owner = await users.find_by_username(session=session, username="admin")
        assert owner is not None
        assert await verify_password("configured-1", owner.password_hash)


async def test_concurrent_refresh_with_one_token_succeeds_once(
    database: db.Database, settings: Settings
) -> None:
    user = await add_user("racer", Role.ADMIN)
    issued = await tokens_for(settings, user)

    async def attempt() -> str:
        async with db.session_scope() as session:
            try:
                await auth.refresh(session=session, settings=settings, refresh_token=issued.refresh_token)
                return "ok"
            except Unauthorized:
                return "refused"

    outcomes = await asyncio.gather(*(attempt() for _ in range(4)))
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]


async def test_expired_or_foreign_refresh_tokens(database: db.Database, settings: Settings) -> None:
    user = await add_user("someone", Role.READ_ONLY)
    issued = await tokens_for(settings, user)
    claims = auth._decode(settings, issued.refresh_token, "refresh")
    async with db.session_scope() as session:
        with pytest.raises(Unauthorized, match="Invalid refresh token"):
            await tokens.consume(
                session=session,
                claims=claims.__class__(
                    user_id=uuid.uuid4(),
                    jti=claims.jti,
                    token_type="refresh",
                    version=0,
                    expires_at=claims.expires_at,
                    family_id=claims.family_id,
                ),
            )
        with pytest.raises(Unauthorized, match="Invalid refresh token"):
            await tokens.consume(
                session=session,
                claims=claims.__class__(
                    user_id=user.id,
                    jti=uuid.uuid4(),
                    token_type="refresh",
                    version=0,
                    expires_at=claims.expires_at,
                    family_id=claims.family_id,
                ),
            )
        await tokens.revoke_one(session=session, jti=claims.jti)
        with pytest.raises(Unauthorized, match="revoked"):
            await tokens.consume(session=session, claims=claims)
        assert await count_rows(RefreshToken, user_id=user.id) == 1


async def test_user_service_rules(database: db.Database) -> None:
    owner = await add_user("admin", Role.OWNER)
    async with db.session_scope() as session:
        with pytest.raises(Forbidden):
            await users.create_user(
                session=session, data=UserCreate(username="second_owner", password="password-1", role="owner")
            )
        with pytest.raises(Conflict):
            await users.create_user(session=session, data=UserCreate(username="admin", password="password-1"))
        with pytest.raises(Forbidden):
            await users.update_user(session=session, user_id=owner.id, data=UserUpdate(role="admin"))
        with pytest.raises(Forbidden):
            await users.delete_user(session=session, user_id=owner.id)
        with pytest.raises(NotFound):
            await users.delete_user(session=session, user_id=uuid.uuid4())
        with pytest.raises(NotFound):
            await users.set_password(session=session, username="ghost", password="password-1")
    assert await count_rows(User) == 1


async def test_purge_removes_only_expired_refresh_tokens(database: db.Database, settings: Settings) -> None:
    user = await add_user("purge_me", Role.READ_ONLY, "purge-password-1")
    live = await tokens_for(settings, user)
    expired = await tokens_for(settings, user)
    async with db.session_scope() as session:
        rows = (await session.exec(select(RefreshToken))).all()
        assert len(rows) == 2
        jti = decode_token(
            expired.refresh_token,
            secret=settings.jwt_secret,
            algorithm=settings.jwt_algorithm,
            expected_type="refresh",
        ).jti
        stale = next(row for row in rows if row.id == jti)
        stale.expires_at = utcnow() - timedelta(seconds=1)
        session.add(stale)
        await session.commit()
        assert await tokens.purge_expired(session=session) == 1
    assert await count_rows(RefreshToken) == 1
    async with db.session_scope() as session:  # the live login still refreshes
        await auth.refresh(session=session, settings=settings, refresh_token=live.refresh_token)


async def test_the_owners_reset_is_the_one_password_change(database: db.Database, settings: Settings) -> None:
    """``update_user`` with a password goes through ``replace_password``: rules first, then every
    refresh token ended; a bad password changes nothing, not even the role sent with it."""
    operator = await add_user("operator_1", Role.READ_ONLY)
    await tokens_for(settings, operator)
    async with db.session_scope() as session:
        with pytest.raises(Invalid) as short:
            await users.update_user(
                session=session, user_id=operator.id, data=UserUpdate(role="admin", password="short")
            )
        assert (short.value.code, short.value.field) == ("password_too_short", "password")
    async with db.session_scope() as session:
        unchanged = await users.get_user(session=session, user_id=operator.id)
        assert (unchanged.role, unchanged.token_version) == (Role.READ_ONLY, operator.token_version)
        changed = await users.update_user(
            session=session, user_id=operator.id, data=UserUpdate(role="admin", password="new-password-1")
        )
        assert changed.role == Role.ADMIN
        assert changed.token_version > operator.token_version
        assert await verify_password("new-password-1", changed.password_hash)
        live = await session.exec(
            select(RefreshToken).where(RefreshToken.user_id == operator.id, RefreshToken.revoked_at.is_(None))  # type: ignore[union-attr]
        )
        assert live.all() == []
