"""Accounts: create, list, edit, delete, and the owner bootstrap on first start."""

from __future__ import annotations

import logging
import secrets
import uuid

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.bus import Revocation, get_bus
from ddms.errors import Conflict, Forbidden, NotFound
from ddms.models import ASSIGNABLE_ROLES, Role, User, utcnow
from ddms.schemas.users import ProfileUpdate, UserCreate, UserUpdate
from ddms.security import check_password_rules, hash_password
from ddms.services import login_throttle, tokens
from ddms.services.unique import commit_unique, ensure_unique

logger = logging.getLogger(__name__)

OWNER_USERNAME = "admin"


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found")
    return user


async def find_by_username(*, session: AsyncSession, username: str) -> User | None:
    return (await session.exec(select(User).where(User.username == username))).first()


async def list_users(*, session: AsyncSession) -> list[User]:
    """All accounts, owner first, then by name."""
    rows = (await session.exec(select(User).order_by(User.username))).all()
    return sorted(rows, key=lambda user: user.role != Role.OWNER)


async def create_user(*, session: AsyncSession, data: UserCreate) -> User:
    """A new admin or read-only account; the owner account is unique and made only at start-up."""
    if data.role not in ASSIGNABLE_ROLES:
        raise Forbidden("role_not_assignable", field="role")
    check_password_rules(data.password)
    await ensure_unique(session, User.username, data.username, _taken(data.username))
    await session.commit()  # end the read: no pooled connection is held across bcrypt
    user = User(
        username=data.username,
        password_hash=await hash_password(data.password),
        role=data.role,
        language_preference=data.language_preference,
    )
    session.add(user)
    await commit_unique(session, _taken(data.username))
    logger.info("user created", extra={"user_id": str(user.id), "role": user.role})
    return user


async def update_user(*, session: AsyncSession, user_id: uuid.UUID, data: UserUpdate) -> User:
    """Owner's edit: role (never of/to owner), password reset (``replace_password``), language."""
    user = await get_user(session=session, user_id=user_id)
    role_changes = data.role is not None and data.role != user.role
    if role_changes and user.role == Role.OWNER:
        raise Forbidden("owner_role_fixed", field="role")
    if role_changes and data.role == Role.OWNER.value:
        raise Forbidden("single_owner", field="role")
    if data.password is not None:  # first: its rules fail before anything changes
        user = await replace_password(session=session, user=user, password=data.password)
    if role_changes:
        user.role = data.role  # type: ignore[assignment]
        user.token_version += 1
    if data.language_preference is not None:
        user.language_preference = data.language_preference
    user.updated_at = utcnow()
    session.add(user)
    await session.commit()
    if role_changes:  # a real role change, not a same-value edit: its sessions end
        await _revoke_sessions(session, user)
    return user


async def update_profile(*, session: AsyncSession, user: User, data: ProfileUpdate) -> User:
    """A user's own username and language."""
    if data.username is not None and data.username != user.username:
        await ensure_unique(session, User.username, data.username, _taken(data.username))
        user.username = data.username
    if data.language_preference is not None:
        user.language_preference = data.language_preference
    user.updated_at = utcnow()
    session.add(user)
    await commit_unique(session, _taken(user.username))
    return user


async def delete_user(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Remove an account and, with it, its refresh tokens; the owner cannot be deleted."""
    user = await get_user(session=session, user_id=user_id)
    if user.role == Role.OWNER:
        raise Forbidden("owner_undeletable")
    await session.delete(user)
    await session.commit()
    get_bus().revoked(Revocation(user_id=user_id))


async def ensure_owner(*, session: AsyncSession, password: str | None) -> str | None:
    """Create the owner ``admin`` if no owner exists; returns a generated password to print once."""
    exists = (await session.exec(select(func.count()).select_from(User).where(User.role == Role.OWNER))).one()
    if exists:
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    check_password_rules(password)
    session.add(User(username=OWNER_USERNAME, password_hash=await hash_password(password), role=Role.OWNER))
    await session.commit()
    logger.info("owner account created")
    return generated


async def set_password(*, session: AsyncSession, username: str, password: str) -> User:
    """Console reset: new password, every session of the user revoked."""
    user = await find_by_username(session=session, username=username)
    if user is None:
        raise NotFound("no_such_username", field="username", params={"name": username})
    return await replace_password(session=session, user=user, password=password)


async def replace_password(*, session: AsyncSession, user: User, password: str) -> User:
    """The one way a password changes: rules, bcrypt off the loop, and every token of the user revoked.

    A lock-out of the name is lifted too (``ddms user reset-password`` is the owner's way back in).
    Bumping ``token_version`` ends access tokens and UI sessions at once; revoking the refresh tokens
    ends the logins that would otherwise mint new ones.
    """
    check_password_rules(password)
    user.password_hash = await _hash_outside_transaction(session, password)
    user.token_version += 1
    user.updated_at = utcnow()
    session.add(user)
    await session.commit()
    await _revoke_sessions(session, user)
    await login_throttle.clear(session=session, username=user.username)  # a reset lifts a lock-out
    return user


async def _revoke_sessions(session: AsyncSession, user: User) -> None:
    """End every refresh token of ``user`` and tell open pages and streams (its token_version moved)."""
    await tokens.revoke_all(session=session, user_id=user.id)
    get_bus().revoked(Revocation(user_id=user.id))


async def unlock(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    """The owner lifts a lock-out: every failed login of the account is forgotten, from every address."""
    user = await get_user(session=session, user_id=user_id)
    await login_throttle.clear(session=session, username=user.username)
    return user


async def _hash_outside_transaction(session: AsyncSession, password: str) -> str:
    """bcrypt with the session's transaction ended first, so no pooled connection waits on it.

    Changes already made to loaded objects are flushed by that commit; callers hash before they
    change anything, so the commit only ends a read.
    """
    await session.commit()
    return await hash_password(password)


def _taken(username: str) -> Conflict:
    return Conflict("username_taken", field="username", params={"name": username})
