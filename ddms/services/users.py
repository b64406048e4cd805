"""Accounts: create, list, edit, delete, and the owner bootstrap on first start."""

from __future__ import annotations

import logging
import secrets
import uuid

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.bus import Revocation, get_bus
from ddms.errors import Conflict, Forbidden, NotFound
from ddms.models import Role, User, utcnow
from ddms.schemas.users import ProfileUpdate, UserCreate, UserUpdate
from ddms.security import check_password_rules, hash_password
from ddms.services import login_throttle, tokens

logger = logging.getLogger(__name__)

OWNER_USERNAME = "admin"


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def find_by_username(*, session: AsyncSession, username: str) -> User | None:
    return (await session.exec(select(User).where(User.username == username))).first()


async def list_users(*, session: AsyncSession) -> list[User]:
    """All accounts, owner first, then by name."""
    rows = (await session.exec(select(User).order_by(User.username))).all()
    return sorted(rows, key=lambda user: user.role != Role.OWNER)


async def create_user(*, session: AsyncSession, data: UserCreate) -> User:
    """A new admin or read-only account; the owner account is unique and made only at start-up."""
    if data.role not in (Role.ADMIN, Role.READ_ONLY):
        raise Forbidden("Only admin or read_only accounts can be created")
    check_password_rules(data.password)
    if await find_by_username(session=session, username=data.username) is not None:
        raise Conflict(f"Username '{data.username}' is already taken")
    await session.commit()  # end the read: no pooled connection is held across bcrypt
    user = User(
        username=data.username,
        password_hash=await hash_password(data.password),
        role=data.role,
        language_preference=data.language_preference,
    )
    session.add(user)
    await _commit_unique(session, f"Username '{data.username}' is already taken")
    logger.info("user created", extra={"user_id": str(user.id), "role": user.role})
    return user


async def update_user(*, session: AsyncSession, user_id: uuid.UUID, data: UserUpdate) -> User:
    """Owner's edit: role (never of/to owner), password reset (revokes tokens), language."""
    user = await get_user(session=session, user_id=user_id)
    version = user.token_version
    role_changes = data.role is not None and data.role != user.role
    if role_changes and user.role == Role.OWNER:
        raise Forbidden("The owner's role cannot be changed")
    if role_changes and data.role == Role.OWNER.value:
        raise Forbidden("There is exactly one owner; no account can be promoted to owner")
    if data.password is not None:  # hashed before anything changes (the read ends first)
        check_password_rules(data.password)
        user.password_hash = await _hash_outside_transaction(session, data.password)
        user.token_version += 1
    if role_changes:
        user.role = data.role  # type: ignore[assignment]
        user.token_version += 1
    if data.language_preference is not None:
        user.language_preference = data.language_preference
    user.updated_at = utcnow()
    session.add(user)
    await session.commit()
    if user.token_version != version:  # a real role change or a reset, not a same-value edit
        await tokens.revoke_all(session=session, user_id=user.id)
        get_bus().revoked(Revocation(user_id=user.id))
    if data.password is not None:  # the owner's reset also lifts a lock-out
        await login_throttle.clear(session=session, username=user.username)
    return user


async def update_profile(*, session: AsyncSession, user: User, data: ProfileUpdate) -> User:
    """A user's own username and language."""
    if data.username is not None and data.username != user.username:
        if await find_by_username(session=session, username=data.username) is not None:
            raise Conflict(f"Username '{data.username}' is already taken")
        user.username = data.username
    if data.language_preference is not None:
        user.language_preference = data.language_preference
    user.updated_at = utcnow()
    session.add(user)
    await _commit_unique(session, "Username is already taken")
    return user


async def delete_user(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Remove an account and, with it, its refresh tokens; the owner cannot be deleted."""
    user = await get_user(session=session, user_id=user_id)
    if user.role == Role.OWNER:
        raise Forbidden("The owner account cannot be deleted")
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
        raise NotFound(f"No user named '{username}'")
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
    await tokens.revoke_all(session=session, user_id=user.id)
    get_bus().revoked(Revocation(user_id=user.id))
    await login_throttle.clear(session=session, username=user.username)  # a reset lifts a lock-out
    return user


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


async def _commit_unique(session: AsyncSession, detail: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(detail) from None
