"""Log in, refresh, log out, change password, and turn an access token back into a user.

The REST API and the NiceGUI login page both call ``login``, so the same rate limit, the same
messages and the same role data apply to both.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from ddms.config import Settings
from ddms.errors import Invalid, RateLimited, Unauthorized
from ddms.models import User
from ddms.security import (
    TokenClaims,
    check_password_rules,
    decode_token,
    encode_token,
    verify_password,
)
from ddms.services import tokens, users

logger = logging.getLogger(__name__)

LOGIN_FAILURE_LIMIT = 5
LOGIN_WINDOW_SECONDS = 15 * 60
INVALID_LOGIN = "Invalid username or password"
MAX_TRACKED_USERNAMES = 10_000


class LoginThrottle:
    """Failed logins per username in a sliding window; the sixth attempt within it is refused."""

    def __init__(self, limit: int = LOGIN_FAILURE_LIMIT, window: float = LOGIN_WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self.max_tracked = MAX_TRACKED_USERNAMES
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, username: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(username.lower(), deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def check(self, username: str) -> None:
        now = time.monotonic()
        failures = self._recent(username, now)
        if len(failures) >= self.limit:
            retry_after = int(failures[0] + self.window - now) + 1
            raise RateLimited(
                f"Too many failed login attempts. Try again in {retry_after // 60 + 1} minutes.", retry_after
            )

    def fail(self, username: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= self.max_tracked:
            self._forget_stale(now)
        self._recent(username, now).append(now)

    def _forget_stale(self, now: float) -> None:
        """Drop names whose failures all left the window: guessing many names cannot grow memory forever."""
        horizon = now - self.window
        stale = [name for name, times in self._failures.items() if not times or times[-1] <= horizon]
        for name in stale:
            del self._failures[name]

    def succeed(self, username: str) -> None:
        self._failures.pop(username.lower(), None)


throttle = LoginThrottle()


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    user: User
    access_token: str
    refresh_token: str
    refresh_expires_in: int


async def login(*, session: AsyncSession, settings: Settings, username: str, password: str) -> IssuedTokens:
    """Check the password (same answer for unknown user and wrong password) and issue tokens."""
    user = await check_credentials(session=session, username=username, password=password)
    return await issue(session=session, settings=settings, user=user, family_id=uuid.uuid4())


async def issue(
    *, session: AsyncSession, settings: Settings, user: User, family_id: uuid.UUID
) -> IssuedTokens:
    """A new access token and a new refresh token in ``family_id``."""
    secret, algorithm = settings.jwt_secret, settings.jwt_algorithm
    access, _ = encode_token(
        secret=secret, algorithm=algorithm, user_id=user.id, token_type="access",  # noqa: S106
        version=user.token_version, lifetime=timedelta(minutes=settings.access_token_expire_minutes),
    )
    refresh_lifetime = timedelta(days=settings.refresh_token_expire_days)
    refresh, claims = encode_token(
        secret=secret, algorithm=algorithm, user_id=user.id, token_type="refresh",  # noqa: S106
        version=user.token_version, lifetime=refresh_lifetime, family_id=family_id,
    )
    await tokens.remember(session=session, claims=claims)
    return IssuedTokens(user, access, refresh, int(refresh_lifetime.total_seconds()))


async def refresh(*, session: AsyncSession, settings: Settings, refresh_token: str) -> IssuedTokens:
    """Rotate: the presented token is spent and a new pair issued in the same family."""
    claims = _decode(settings, refresh_token, "refresh")
    token = await tokens.consume(session=session, claims=claims)
    user = await session.get(User, claims.user_id, populate_existing=True)
    if user is None or user.token_version != claims.version:
        raise Unauthorized("Refresh token has been revoked")
    return await issue(session=session, settings=settings, user=user, family_id=token.family_id)


async def logout(*, session: AsyncSession, settings: Settings, refresh_token: str | None) -> None:
    """Revoke the presented refresh token's family; an unusable token is simply ignored."""
    if not refresh_token:
        return
    try:
        claims = _decode(settings, refresh_token, "refresh")
    except Unauthorized:
        return
    if claims.family_id is not None:
        await tokens.revoke_family(session=session, family_id=claims.family_id)


async def change_password(
    *, session: AsyncSession, settings: Settings, user: User, old_password: str, new_password: str
) -> IssuedTokens:
    """New password after proving the old one; every other token of the user stops working."""
    check_password_rules(new_password)  # first: a bad new password costs no bcrypt round
    if not await verify_password(old_password, user.password_hash):
        raise Unauthorized("Current password is incorrect")
    if old_password == new_password:
        raise Invalid("The new password must differ from the current one")
    await users.replace_password(session=session, user=user, password=new_password)
    return await issue(session=session, settings=settings, user=user, family_id=uuid.uuid4())


async def user_from_access_token(*, session: AsyncSession, settings: Settings, token: str) -> User:
    """The live user behind an access token; revoked by a password change, a role change or deletion."""
    claims = _decode(settings, token, "access")
    user = await session.get(User, claims.user_id, populate_existing=True)
    if user is None or user.token_version != claims.version:
        raise Unauthorized("Token has been revoked")
    return user


def _decode(settings: Settings, token: str, expected: str) -> TokenClaims:
    return decode_token(
        token, secret=settings.jwt_secret, algorithm=settings.jwt_algorithm,
        expected_type=expected,  # type: ignore[arg-type]
    )


async def session_user(*, session: AsyncSession, user_id: uuid.UUID, token_version: int) -> User:
    """The live user behind a UI session; the same revocation rules as access tokens."""
    user = await session.get(User, user_id, populate_existing=True)
    if user is None or user.token_version != token_version:
        raise Unauthorized("Session has ended, please log in again")
    return user


async def check_credentials(*, session: AsyncSession, username: str, password: str) -> User:
    """Login for the UI: same throttle and messages as ``login`` but no tokens are issued."""
    throttle.check(username)
    user = await users.find_by_username(session=session, username=username)
    if not await verify_password(password, user.password_hash if user else None) or user is None:
        throttle.fail(username)
        logger.info("login failed")
        raise Unauthorized(INVALID_LOGIN)
    throttle.succeed(username)
    return user
