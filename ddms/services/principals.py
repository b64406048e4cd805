"""Who is calling: the user id, role and token version behind an access token, cached briefly.

Every authenticated request checks that its token was not revoked (``token_version`` still matches
the user's row). The rows are small and change rarely, so they are kept in a read cache: any write
of this process to ``users`` (role change, password reset, deletion) drops it at once, and a change
made by another process (``ddms user reset-password`` on the console) is seen within twice
``PRINCIPAL_CACHE_SECONDS``. Routes that need the whole account (``/api/auth/me``) still load the row.

A token whose signature was verified once is not verified again (the claims are kept by token,
bounded); its expiry is checked on every request.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlmodel import select

from ddms import db, runtime
from ddms.cache import ReadCache
from ddms.config import Settings
from ddms.errors import Unauthorized
from ddms.models import User
from ddms.security import TokenClaims, decode_token

PRINCIPAL_CACHE_SECONDS = 1.0
MAX_VERIFIED_TOKENS = 4096
wall_clock = time.time  # token expiry is wall-clock time (tests move it)


@dataclass(frozen=True, slots=True)
class Principal:
    """The part of an account that authorisation needs."""

    id: uuid.UUID
    role: str
    token_version: int


VerifiedTokens = dict[tuple[str, str, str], tuple[TokenClaims, float]]


def cache() -> ReadCache[Principal | None]:
    """This app's principals by user id."""
    return runtime.current().cache(
        "principals", lambda: ReadCache(tables=("users",), ttl=PRINCIPAL_CACHE_SECONDS)
    )


def _verified() -> VerifiedTokens:
    caches = runtime.current().caches
    verified: VerifiedTokens = caches.setdefault("verified_tokens", {})
    return verified


async def _load(user_id: uuid.UUID) -> Principal | None:
    async with db.session_scope() as session:
        query = select(User.id, User.role, User.token_version).where(User.id == user_id)
        row = (await session.exec(query)).first()
    return Principal(*row) if row is not None else None


def verified_claims(settings: Settings, token: str) -> TokenClaims:
    """The access token's claims: signature checked the first time, expiry every time."""
    key = (token, settings.jwt_secret, settings.jwt_algorithm)
    verified = _verified()
    known = verified.get(key)
    if known is None:
        claims = decode_token(
            token,
            secret=settings.jwt_secret,
            algorithm=settings.jwt_algorithm,
            expected_type="access",
        )
        if len(verified) >= MAX_VERIFIED_TOKENS:
            verified.clear()
        known = verified[key] = (claims, claims.expires_at.timestamp())
    if wall_clock() >= known[1]:  # as PyJWT: expired from the "exp" second on
        verified.pop(key, None)
        raise Unauthorized("token_expired")
    return known[0]


async def principal_from_access_token(*, settings: Settings, token: str) -> Principal:
    """The caller behind a valid, unrevoked access token; Unauthorized otherwise (same rules and
    messages as ``auth.user_from_access_token``)."""
    claims = verified_claims(settings, token)
    principal = await cache().get(claims.user_id, db.current().engine, lambda: _load(claims.user_id))
    if principal is None or principal.token_version != claims.version:
        raise Unauthorized("token_revoked")
    return principal
