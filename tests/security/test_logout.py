"""Logout ends the login whatever the client still holds: Bearer (even expired), cookie or body.

Each test runs the real REST app (``tests/api/conftest.py``) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import jwt
import pytest

from ddms.config import Settings
from ddms.models import RefreshToken
from ddms.security import encode_token
from tests.api.conftest import Account, app, client, owner  # noqa: F401  (fixtures)
from tests.api.helpers import bearer, count_rows, tokens_for


def family_of(settings: Settings, token: str) -> uuid.UUID | None:
    """The login (refresh family) a genuine token names, if it names one."""
    claims = jwt.decode(token, settings.jwt_secret, algorithms=[settings.jwt_algorithm])
    return uuid.UUID(claims["fam"]) if "fam" in claims else None


def expired_access_token(settings: Settings, account: Account) -> str:
    """The access token of this login as it is once its 30 minutes are over (same user, family, key)."""
    token, _claims = encode_token(
        secret=settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
        user_id=account.user.id,
        token_type="access",
        version=account.user.token_version,
        lifetime=timedelta(seconds=-60),
        family_id=family_of(settings, account.refresh_token),
    )
    return token


async def refreshes(http: httpx.AsyncClient, refresh_token: str) -> bool:
    http.cookies.clear()
    answer = await http.post("/api/auth/refresh", json={"refresh_token": refresh_token})
    return answer.status_code == 200


async def forged_and_missing_tokens_revoke_nothing(http: httpx.AsyncClient, account: Account) -> None:
    """Expiry is ignored for logout, the signature never: a token signed with another key ends nothing."""
    live = await count_rows(RefreshToken, revoked_at=None)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    forged = jwt.encode(claims | {"exp": 1}, "another-secret-" + "y" * 40, algorithm="HS256")
    answer = await http.post("/api/auth/logout", headers=bearer(forged))
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Could not validate credentials"}
    nothing = await http.post("/api/auth/logout")
    assert nothing.status_code == 401
    assert nothing.json() == {"detail": "Not authenticated"}
    assert await count_rows(RefreshToken, revoked_at=None) == live


def test_the_access_token_names_its_login(settings: Settings, owner: Account) -> None:
    family = family_of(settings, owner.refresh_token)
    assert family is not None
    assert family_of(settings, owner.access_token) == family


@pytest.mark.parametrize("presented", ["bearer", "expired bearer", "cookie", "body"])
async def test_logout_revokes_the_login_whatever_is_presented(
    client: httpx.AsyncClient,
    settings: Settings,
    owner: Account,
    presented: str,
) -> None:
    elsewhere = await tokens_for(settings, owner.user)  # another login of the same user
    await forged_and_missing_tokens_revoke_nothing(client, owner)
    headers: dict[str, str] = {}
    body = None
    if presented == "bearer":
        headers = owner.headers
    elif presented == "expired bearer":
        headers = bearer(expired_access_token(settings, owner))
        assert (await client.get("/api/auth/me", headers=headers)).status_code == 401  # it grants nothing
    elif presented == "cookie":
        headers = {"Cookie": f"refresh_token={owner.refresh_token}"}  # as the browser sends it
    else:
        body = {"refresh_token": owner.refresh_token}
    answer = await client.post("/api/auth/logout", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"message": "Logged out"}
    assert not await refreshes(client, owner.refresh_token)  # this login is over
    assert await refreshes(client, elsewhere.refresh_token)  # the other one is not
