"""Password rules and JWT encoding/decoding."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest

from ddms.errors import Invalid, Unauthorized
from ddms.security import check_password_rules, decode_token, encode_token, hash_password, verify_password

SECRET = "s" * 40


@pytest.mark.parametrize("password", ["12345678", "p" * 72, "密" * 24, "ä" * 36])
def test_acceptable_passwords(password: str) -> None:
    check_password_rules(password)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("1234567", "at least 8 characters"),
        ("", "at least 8"),
        ("p" * 73, "at most 72 bytes"),
        ("密" * 25, "at most 72 bytes"),
        ("ä" * 37, "at most 72 bytes"),
    ],
)
def test_refused_passwords(password: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        check_password_rules(password)


async def test_hash_and_verify() -> None:
    hashed = await hash_password("correct-horse")
    assert hashed.startswith("$2b$12$")
    assert "correct-horse" not in hashed
    assert await verify_password("correct-horse", hashed)
    assert not await verify_password("correct-horsE", hashed)
    assert not await verify_password("correct-horse" + "x" * 80, hashed)  # over 72 bytes never matches
    assert not await verify_password("anything", None)  # unknown user: still one bcrypt round, False


def token(**changes: object) -> str:
    arguments = {
        "secret": SECRET,
        "algorithm": "HS256",
        "user_id": uuid.uuid4(),
        "token_type": "access",
        "version": 3,
        "lifetime": timedelta(days=1),  # built at collection: must outlive a slow run
    } | changes
    return encode_token(**arguments)[0]  # type: ignore[arg-type]


def test_round_trip() -> None:
    user_id, family = uuid.uuid4(), uuid.uuid4()
    encoded, claims = encode_token(
        secret=SECRET,
        algorithm="HS256",
        user_id=user_id,
        token_type="refresh",
        version=2,
        lifetime=timedelta(days=1),
        family_id=family,
    )
    decoded = decode_token(encoded, secret=SECRET, algorithm="HS256", expected_type="refresh")
    assert decoded == claims.__class__(
        user_id=user_id,
        jti=claims.jti,
        token_type="refresh",
        version=2,
        expires_at=decoded.expires_at,
        family_id=family,
    )
    assert abs((decoded.expires_at - claims.expires_at).total_seconds()) < 1


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (token(lifetime=timedelta(seconds=-5)), "Token has expired"),
        (token(secret="o" * 40), "Could not validate credentials"),
        (token(token_type="refresh"), "Invalid token type"),
        (token(algorithm="HS512", secret="l" * 64), "Could not validate credentials"),
        ("not.a.token", "Could not validate credentials"),
        ("", "Could not validate credentials"),
        (
            jwt.encode(
                {"sub": "not-a-uuid", "jti": str(uuid.uuid4()), "type": "access", "exp": 9_999_999_999},
                SECRET,
                algorithm="HS256",
            ),
            "Could not validate credentials",
        ),
        (
            jwt.encode(
                {"sub": str(uuid.uuid4()), "type": "access", "exp": 9_999_999_999}, SECRET, algorithm="HS256"
            ),
            "Could not validate credentials",
        ),
        (
            jwt.encode(
                {
                    "sub": str(uuid.uuid4()),
                    "jti": str(uuid.uuid4()),
                    "type": "access",
                    "exp": 9_999_999_999,
                    "ver": "x",
                },
                SECRET,
                algorithm="HS256",
            ),
            "Could not validate credentials",
        ),
        (
            jwt.encode(
                {"sub": str(uuid.uuid4()), "jti": str(uuid.uuid4()), "type": "access", "exp": 9_999_999_999},
                SECRET,
                algorithm="HS256",
            ).rsplit(".", 1)[0]
            + ".",
            "Could not validate credentials",
        ),
    ],
)
def test_bad_tokens_are_unauthorized(encoded: str, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        decode_token(encoded, secret=SECRET, algorithm="HS256", expected_type="access")


def test_none_algorithm_is_refused() -> None:
    unsigned = jwt.encode(
        {"sub": str(uuid.uuid4()), "jti": str(uuid.uuid4()), "type": "access", "exp": 9_999_999_999},
        None,
        algorithm="none",
    )
    with pytest.raises(Unauthorized):
        decode_token(unsigned, secret=SECRET, algorithm="HS256", expected_type="access")
