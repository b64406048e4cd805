"""Log in, refresh, log out, change password, and turn an access token back into a user.

The REST API and the NiceGUI login page both call ``login``, so the same rate limit, the same
messages and the same role data apply to both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import runtime, security
from ddms.config import Settings
from ddms.errors import Invalid, Unauthorized
from ddms.models import User
from ddms.security import (
    TokenClaims,
    check_password_rules,
    decode_token,
    encode_token,
    verify_password,
)
from ddms.services import tokens, users
from ddms.services.login_throttle import LoginThrottle

logger = logging.getLogger(__name__)


def throttle() -> LoginThrottle:
    """The current app's throttle rules and clock (its counts are in the database)."""
    return runtime.current().throttle


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    user: User
    access_token: str
    refresh_token: str
    refresh_expires_in: int


async def login(
    *, session: AsyncSession, settings: Settings, username: str, password: str, client: str = ""
) -> IssuedTokens:
    """Check the password (same answer for unknown user and wrong password) and issue tokens.

    The whole attempt runs in one password slot, so concurrent logins hold at most that many
    database connections, each only for a short transaction, never across bcrypt.
    """
    async with security.password_slots().hold():
        user = await check_credentials(session=session, username=username, password=password, client=client)
        return await issue(session=session, settings=settings, user=user, family_id=uuid.uuid4())


async def issue(
    *, session: AsyncSession, settings: Settings, user: User, family_id: uuid.UUID
) -> IssuedTokens:
    """A new access token and a new refresh token in ``family_id``."""
    secret, algorithm = settings.jwt_secret, settings.jwt_algorithm
    access, _ = encode_token(
        secret=secret,
        algorithm=algorithm,
        user_id=user.id,
        token_type="access",  # noqa: S106
        version=user.token_version,
        lifetime=timedelta(minutes=settings.access_token_expire_minutes),
        family_id=family_id,  # so that logout with only the access token ends this login
    )
    refresh_lifetime = timedelta(days=settings.refresh_token_expire_days)
    refresh, claims = encode_token(
        secret=secret,
        algorithm=algorithm,
        user_id=user.id,
        token_type="refresh",  # noqa: S106
        version=user.token_version,
        lifetime=refresh_lifetime,
        family_id=family_id,
    )
    await tokens.remember(session=session, claims=claims)
    return IssuedTokens(user, access, refresh, int(refresh_lifetime.total_seconds()))


async def refresh(*, session: AsyncSession, settings: Settings, refresh_token: str) -> IssuedTokens:
    """Rotate: the presented token is spent and a new pair issued in the same family."""
    claims = _decode(settings, refresh_token, "refresh")
    token = await tokens.consume(session=session, claims=claims)
    user = await session.get(User, claims.user_id, populate_existing=True)
    if user is None or user.token_version != claims.version:
        raise Unauthorized("refresh_revoked")
    return await issue(session=session, settings=settings, user=user, family_id=token.family_id)


async def logout(*, session: AsyncSession, settings: Settings, presented: Iterable[str]) -> None:
    """End the login(s) behind the presented tokens: each one's refresh family is revoked.

    Any mix works: the Bearer access token (expired too: its signature is checked, its expiry is not,
    since it only names the login to end), the refresh cookie, or a refresh token in the body.
    Unauthorized when nothing was presented or nothing presented is a token of ours.
    """
    presented = [token for token in presented if token]
    if not presented:
        raise Unauthorized("not_authenticated")
    families: set[uuid.UUID] = set()
    genuine = 0
    for token in presented:
        try:
            claims = decode_token(
                token,
                secret=settings.jwt_secret,
                algorithm=settings.jwt_algorithm,
                expected_type=("access", "refresh"),
                verify_expiry=False,
            )
        except Unauthorized:
            continue
        genuine += 1
        if claims.family_id is not None:
            families.add(claims.family_id)
    if not genuine:
        raise Unauthorized("bad_credentials")
    for family_id in families:
        await tokens.revoke_family(session=session, family_id=family_id)


async def change_password(
    *, session: AsyncSession, settings: Settings, user: User, old_password: str, new_password: str
) -> IssuedTokens:
    """New password after proving the old one; every other token of the user stops working."""
    check_password_rules(new_password)  # first: a bad new password costs no bcrypt round
    await session.commit()  # end the read that loaded the user: no pooled connection across bcrypt
    if not await verify_password(old_password, user.password_hash):
        raise Unauthorized("wrong_password", field="current_password")
    if old_password == new_password:
        raise Invalid("password_unchanged", field="new_password")
    await users.replace_password(session=session, user=user, password=new_password)
    return await issue(session=session, settings=settings, user=user, family_id=uuid.uuid4())


async def user_from_access_token(*, session: AsyncSession, settings: Settings, token: str) -> User:
    """The live user behind an access token; revoked by a password change, a role change or deletion."""
    claims = _decode(settings, token, "access")
    user = await session.get(User, claims.user_id, populate_existing=True)
    if user is None or user.token_version != claims.version:
        raise Unauthorized("token_revoked")
    return user


def _decode(settings: Settings, token: str, expected: str) -> TokenClaims:
    return decode_token(
        token,
        secret=settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
        expected_type=expected,  # type: ignore[arg-type]
    )


async def session_user(*, session: AsyncSession, user_id: uuid.UUID, token_version: int) -> User:
    """The live user behind a UI session; the same revocation rules as access tokens."""
    user = await session.get(User, user_id, populate_existing=True)
    if user is None or user.token_version != token_version:
        raise Unauthorized("session_ended")
    return user


async def check_credentials(*, session: AsyncSession, username: str, password: str, client: str = "") -> User:
    """Login for the UI: same throttle and messages as ``login`` but no tokens are issued.

    ``client`` is the caller's address: the throttle counts per (username, address) and per username.
    The attempt is reserved (counted as a failure) before bcrypt runs and released if the password
    is right; the session's transaction ends before bcrypt, so no connection is held across it.
    """
    async with security.password_slots().hold():
        throttle = runtime.current().throttle
        user = await users.find_by_username(session=session, username=username)
        attempt = await throttle.reserve(session=session, username=username, client=client)  # commits
        if not await verify_password(password, user.password_hash if user else None) or user is None:
            throttle.failed(attempt)
            logger.info("login failed", extra={"client": client})  # no name: people type passwords there
            raise Unauthorized("invalid_login")
        await throttle.succeed(session=session, attempt=attempt)
        return user
