"""Password hashing (bcrypt via passlib/libpass, off the event loop, a bounded few at a time) and JWTs."""

from __future__ import annotations

import asyncio
import os
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from jwt.types import Options
from passlib.context import CryptContext

from ddms import runtime
from ddms.errors import Invalid, Overloaded, Unauthorized
from ddms.models.types import utcnow

BCRYPT_ROUNDS = 12
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 8

_context = CryptContext(schemes=["bcrypt"], deprecated="auto", bcrypt__rounds=BCRYPT_ROUNDS)
# A real hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _context.hash("not-a-real-password-" + uuid.uuid4().hex)


def check_password_rules(password: str) -> None:
    """At least 8 characters and at most 72 bytes (bcrypt's limit), else Invalid."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password_too_short", field="password", params={"count": MIN_PASSWORD_LENGTH})
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise Invalid("password_too_long", field="password", params={"count": MAX_PASSWORD_BYTES})


def _cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


class PasswordSlots:
    """At most ``size`` password checks at once (one per core); the rest wait ``wait`` s, then Overloaded.

    bcrypt is ~0.2 s of CPU: more threads than cores only make every check slower, and a flood of
    logins must not queue without bound or hold what they hold (database connections) while queued.
    The task holding a slot may take it again (``login`` holds one around its database work and the
    bcrypt call inside; tasks it starts do not share it), so a whole login attempt runs in one slot
    and logins use at most ``size`` pooled connections at any moment, however many arrive.
    """

    def __init__(self, size: int | None = None, wait: float = 2.0, retry_after: int = 2) -> None:
        self.size = max(1, size or _cores())
        self.wait = wait
        self.retry_after = retry_after
        # One semaphore per event loop: an asyncio primitive is bound to the loop that first waits on it.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._holders: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.size)
        return self._semaphores[loop]

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """A slot for the block (or the one this task already holds); Overloaded after ``wait`` s."""
        task = asyncio.current_task()
        if task is None or task in self._holders:
            yield
            return
        semaphore = self._semaphore()
        try:
            async with asyncio.timeout(self.wait):
                await semaphore.acquire()
        except TimeoutError:
            raise Overloaded("server_busy", retry_after=self.retry_after) from None
        self._holders.add(task)
        try:
            yield
        finally:
            self._holders.discard(task)
            semaphore.release()


def password_slots() -> PasswordSlots:
    """The current app's password slots (``ddms.runtime``)."""
    return runtime.current().password_slots


async def hash_password(password: str) -> str:
    """bcrypt hash, computed in a worker thread (about 0.2 s of CPU at cost 12) in a password slot."""
    async with password_slots().hold():
        return await asyncio.to_thread(_context.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-work check in a password slot; a missing hash still costs one bcrypt round trip."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return False
    async with password_slots().hold():
        return await asyncio.to_thread(_context.verify, password, password_hash or _DUMMY_HASH)


TokenType = Literal["access", "refresh"]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    jti: uuid.UUID
    token_type: TokenType
    version: int
    expires_at: datetime
    family_id: uuid.UUID | None = None


def encode_token(
    *,
    secret: str,
    algorithm: str,
    user_id: uuid.UUID,
    token_type: TokenType,
    version: int,
    lifetime: timedelta,
    jti: uuid.UUID | None = None,
    family_id: uuid.UUID | None = None,
) -> tuple[str, TokenClaims]:
    """Sign a token; returns it with the claims it carries."""
    now = utcnow()
    claims = TokenClaims(
        user_id=user_id,
        jti=jti or uuid.uuid4(),
        token_type=token_type,
        version=version,
        expires_at=now + lifetime,
        family_id=family_id,
    )
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "jti": str(claims.jti),
        "type": token_type,
        "ver": version,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    if family_id is not None:
        payload["fam"] = str(family_id)
    return jwt.encode(payload, secret, algorithm=algorithm), claims


def decode_token(
    token: str,
    *,
    secret: str,
    algorithm: str,
    expected_type: TokenType | tuple[TokenType, ...],
    verify_expiry: bool = True,
) -> TokenClaims:
    """Verify signature, expiry and type; Unauthorized otherwise.

    ``verify_expiry=False`` is for logout only: an expired but genuine token still names the login
    (its family) to end; it never grants access.
    """
    accepted = (expected_type,) if isinstance(expected_type, str) else expected_type
    try:
        options: Options = {"require": ["exp", "sub", "jti"], "verify_exp": verify_expiry}
        payload = jwt.decode(token, secret, algorithms=[algorithm], options=options)
        if payload.get("type") not in accepted:
            raise Unauthorized("wrong_token_type")
        return TokenClaims(
            user_id=uuid.UUID(payload["sub"]),
            jti=uuid.UUID(payload["jti"]),
            token_type=payload["type"],
            version=int(payload.get("ver", 0)),
            expires_at=datetime.fromtimestamp(payload["exp"], tz=utcnow().tzinfo),
            family_id=uuid.UUID(payload["fam"]) if payload.get("fam") else None,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token_expired") from None
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
        raise Unauthorized("bad_credentials") from None
