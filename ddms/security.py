"""Password hashing (bcrypt via passlib/libpass, off the event loop) and JWT encoding."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from passlib.context import CryptContext

from ddms.errors import Invalid, Unauthorized
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
        raise Invalid(f"Password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise Invalid(f"Password must be at most {MAX_PASSWORD_BYTES} bytes")


async def hash_password(password: str) -> str:
    """bcrypt hash, computed in a worker thread (about 0.2 s of CPU at cost 12)."""
    return await asyncio.to_thread(_context.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-work check; a missing hash still costs one bcrypt round trip."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return False
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
    *, secret: str, algorithm: str, user_id: uuid.UUID, token_type: TokenType, version: int,
    lifetime: timedelta, jti: uuid.UUID | None = None, family_id: uuid.UUID | None = None,
) -> tuple[str, TokenClaims]:
    """Sign a token; returns it with the claims it carries."""
    now = utcnow()
    claims = TokenClaims(
        user_id=user_id, jti=jti or uuid.uuid4(), token_type=token_type, version=version,
        expires_at=now + lifetime, family_id=family_id,
    )
    payload: dict[str, Any] = {
        "sub": str(user_id), "jti": str(claims.jti), "type": token_type, "ver": version,
        "iat": int(now.timestamp()), "exp": int(claims.expires_at.timestamp()),
    }
    if family_id is not None:
        payload["fam"] = str(family_id)
    return jwt.encode(payload, secret, algorithm=algorithm), claims


def decode_token(token: str, *, secret: str, algorithm: str, expected_type: TokenType) -> TokenClaims:
    """Verify signature, expiry and type; Unauthorized otherwise."""
    try:
        required = {"require": ["exp", "sub", "jti"]}
        payload = jwt.decode(token, secret, algorithms=[algorithm], options=required)
        if payload.get("type") != expected_type:
            raise Unauthorized("Invalid token type")
        return TokenClaims(
            user_id=uuid.UUID(payload["sub"]), jti=uuid.UUID(payload["jti"]), token_type=expected_type,
            version=int(payload.get("ver", 0)),
            expires_at=datetime.fromtimestamp(payload["exp"], tz=utcnow().tzinfo),
            family_id=uuid.UUID(payload["fam"]) if payload.get("fam") else None,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Token has expired") from None
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
        raise Unauthorized("Could not validate credentials") from None
