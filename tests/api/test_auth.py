"""Login, refresh rotation and reuse detection, logout, password changes and the login throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from ddms import db
from ddms.config import Settings
from ddms.errors import RateLimited
from ddms.models import LoginFailure, RefreshToken, Role
from ddms.services import auth
from ddms.services.login_throttle import LOGIN_WINDOW_SECONDS, LoginThrottle
from tests.api.conftest import Account
from tests.api.helpers import OWNER_PASSWORD, USER_PASSWORD, add_user, bearer, count_rows, tokens_for

INVALID = {"detail": "Invalid username or password"}
ASGI_CLIENT = "127.0.0.1"  # httpx.ASGITransport's client address


def refresh_cookie(answer: httpx.Response) -> str:
    cookies = [value for value in answer.headers.get_list("set-cookie") if value.startswith("refresh_token=")]
    assert len(cookies) == 1, answer.headers
    return cookies[0]


async def login(
    client: httpx.AsyncClient, username: str = "admin", password: str = OWNER_PASSWORD
) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": username, "password": password})


async def test_login_answer_and_cookie(client: httpx.AsyncClient, app: FastAPI) -> None:
    answer = await login(client)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) >= {"access_token", "token_type", "refresh_token", "user"}
    assert body["token_type"] == "bearer"
    assert body["user"]["user_id"] == body["user"]["id"]
    assert body["user"]["username"] == "admin"
    assert body["user"]["role"] == "owner"
    assert body["user"]["language_preference"] == "en"
    assert "password" not in answer.text
    assert "$2b$" not in answer.text
    cookie = refresh_cookie(answer)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith(f"refresh_token={body['refresh_token']};")
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "secure" not in attributes  # cookie_secure=False in the test settings
    assert f"max-age={7 * 24 * 3600}" in attributes
    me = await client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


async def test_cookie_is_secure_unless_plain_http_is_configured(database, settings: Settings) -> None:
    from asgi_lifespan import LifespanManager

    from ddms.main import create_api

    await add_user("admin", Role.OWNER, OWNER_PASSWORD)
    secure = settings.model_copy(update={"cookie_secure": True})
    application = create_api(secure)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as client:
            answer = await login(client)
    assert answer.status_code == 200
    assert "secure" in [part.strip().lower() for part in refresh_cookie(answer).split(";")]


@pytest.mark.parametrize("username", ["admin", "nobody"])
async def test_login_failure_has_one_message(client: httpx.AsyncClient, username: str) -> None:
    answer = await login(client, username, "wrong-password-1")
    assert answer.status_code == 401
    assert answer.json() == INVALID
    assert "set-cookie" not in answer.headers


class Clock:
    """A clock the test moves by hand: the throttle's window passes without waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def fail(throttle: LoginThrottle, username: str, client: str = ASGI_CLIENT) -> None:
    """One failed attempt recorded as a wrong password would record it (no bcrypt round)."""
    async with db.session_scope() as session:
        throttle.failed(await throttle.reserve(session=session, username=username, client=client))


async def check(throttle: LoginThrottle, username: str, client: str = ASGI_CLIENT) -> None:
    """Raises RateLimited if ``username`` is locked for ``client``; a passing check leaves no trace."""
    async with db.session_scope() as session:
        attempt = await throttle.reserve(session=session, username=username, client=client)
        await throttle.release(session=session, attempt=attempt)


async def test_sixth_failure_is_throttled_even_with_the_right_password(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    throttle = app.state.runtime.throttle = auth.LoginThrottle(clock=Clock())
    for _ in range(4):  # four failures recorded directly: each HTTP attempt would cost a bcrypt round
        await fail(throttle, "admin")
    assert (await login(client)).status_code == 200  # four failures do not lock; a success forgets them
    for _ in range(4):
        await fail(throttle, "admin")
    assert (await login(client, "admin", "wrong-password-1")).status_code == 401  # the fifth failure
    locked = await login(client, "admin", "wrong-password-1")
    assert locked.status_code == 429
    assert "Too many failed login attempts" in locked.json()["detail"]
    assert int(locked.headers["retry-after"]) == LOGIN_WINDOW_SECONDS  # the clock stood still
    assert (await login(client)).status_code == 429  # the right password while locked
    assert (await login(client, "ADMIN", OWNER_PASSWORD)).status_code == 429  # usernames fold case
    other = await add_user("other", Role.ADMIN)
    assert (await login(client, other.username, USER_PASSWORD)).status_code == 200  # per username


async def test_throttle_counts_five_failures_per_username(database: db.Database) -> None:
    throttle = auth.LoginThrottle(clock=Clock())
    for _ in range(5):
        await check(throttle, "Bob")
        await fail(throttle, "Bob")
    with pytest.raises(RateLimited) as caught:
        await check(throttle, "bob")
    assert caught.value.retry_after == LOGIN_WINDOW_SECONDS
    await check(throttle, "alice")


async def test_throttle_purges_failures_that_left_the_window(database: db.Database) -> None:
    clock = Clock()
    throttle = auth.LoginThrottle(window=60, clock=clock)
    for name in ("a", "b", "c"):
        await fail(throttle, name)
    clock.advance(60)  # exactly one window later: these no longer count
    await fail(throttle, "d")
    async with db.session_scope() as session:
        assert await throttle.purge(session=session) == 3
    assert await count_rows(LoginFailure) == 1


async def test_throttle_window_passes(database: db.Database) -> None:
    clock = Clock()
    throttle = auth.LoginThrottle(limit=2, window=60, clock=clock)
    await fail(throttle, "a")
    clock.advance(10)
    await fail(throttle, "a")
    with pytest.raises(RateLimited) as caught:
        await check(throttle, "a")
    assert caught.value.retry_after == 50  # when the first failure leaves the window
    clock.advance(50)
    await check(throttle, "a")  # the first failure left the window
    await fail(throttle, "a")
    with pytest.raises(RateLimited):
        await check(throttle, "a")
    clock.advance(10)
    await check(throttle, "a")
    async with db.session_scope() as session:  # a success forgets this client's earlier failures
        await throttle.succeed(
            session=session, attempt=await throttle.reserve(session=session, username="a", client=ASGI_CLIENT)
        )
    await fail(throttle, "a")
    await check(throttle, "a")


async def test_refresh_by_cookie_body_and_header(client: httpx.AsyncClient, owner: Account) -> None:
    first = await login(client)
    by_cookie = await client.post("/api/auth/refresh")
    assert by_cookie.status_code == 200, by_cookie.text
    pair = by_cookie.json()
    assert set(pair) == {"access_token", "token_type", "refresh_token"}
    assert pair["refresh_token"] != first.json()["refresh_token"]
    assert refresh_cookie(by_cookie).startswith(f"refresh_token={pair['refresh_token']};")
    client.cookies.clear()
    by_body = await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert by_body.status_code == 200, by_body.text
    client.cookies.clear()
    by_header = await client.post("/api/auth/refresh", headers=bearer(by_body.json()["refresh_token"]))
    assert by_header.status_code == 200, by_header.text
    assert (
        await client.get("/api/auth/me", headers=bearer(by_header.json()["access_token"]))
    ).status_code == 200
    client.cookies.clear()
    assert (await client.post("/api/auth/refresh")).status_code == 401
    access_as_refresh = await client.post("/api/auth/refresh", headers=owner.headers)
    assert access_as_refresh.status_code == 401


async def test_reuse_revokes_the_whole_family(client: httpx.AsyncClient, owner: Account) -> None:
    other_login = await tokens_for(client._transport.app.state.settings, owner.user)  # type: ignore[attr-defined]
    rotated = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert rotated.status_code == 200
    newer = rotated.json()["refresh_token"]
    client.cookies.clear()
    reused = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert reused.status_code == 401
    assert "already been used" in reused.json()["detail"]
    after_reuse = await client.post("/api/auth/refresh", json={"refresh_token": newer})
    assert after_reuse.status_code == 401  # the newer token of the same family is revoked too
    # Another login (another family) of the same user is untouched.
    elsewhere = await client.post("/api/auth/refresh", json={"refresh_token": other_login.refresh_token})
    assert elsewhere.status_code == 200


async def test_logout_revokes_refresh_and_clears_cookie(client: httpx.AsyncClient) -> None:
    body = (await login(client)).json()
    answer = await client.post("/api/auth/logout", headers=bearer(body["access_token"]))
    assert answer.status_code == 200
    assert "message" in answer.json()
    cleared = refresh_cookie(answer)
    assert cleared.startswith('refresh_token="";') or cleared.startswith("refresh_token=;")
    assert "max-age=0" in cleared.lower()
    assert "refresh_token" not in client.cookies
    again = await client.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert again.status_code == 401


async def test_logout_with_token_in_body(client: httpx.AsyncClient, owner: Account) -> None:
    answer = await client.post(
        "/api/auth/logout", headers=owner.headers, json={"refresh_token": owner.refresh_token}
    )
    assert answer.status_code == 200
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    ).status_code == 401


async def test_change_password_rules(client: httpx.AsyncClient, reader: Account, settings: Settings) -> None:
    elsewhere = await tokens_for(settings, reader.user)
    cases = [
        ({"old_password": "not-my-password", "new_password": "new-password-1"}, 401),
        ({"old_password": USER_PASSWORD, "new_password": "short"}, 400),
        ({"old_password": USER_PASSWORD, "new_password": "x" * 73}, 400),
        ({"old_password": USER_PASSWORD, "new_password": "密" * 25}, 400),  # 25 characters, 75 bytes
        ({"old_password": USER_PASSWORD}, 422),
    ]
    for body, status in cases:
        answer = await client.post("/api/auth/change-password", headers=reader.headers, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["detail"]
    # Nothing changed: every session still works.
    assert (await client.get("/api/auth/me", headers=bearer(elsewhere.access_token))).status_code == 200
    changed = await client.post(
        "/api/auth/change-password",
        headers=reader.headers,
        json={"old_password": USER_PASSWORD, "new_password": "密" * 24},
    )
    assert changed.status_code == 200, changed.text
    fresh = changed.json()
    assert refresh_cookie(changed).startswith(f"refresh_token={fresh['refresh_token']};")
    for stale in (reader.access_token, elsewhere.access_token):
        assert (await client.get("/api/auth/me", headers=bearer(stale))).status_code == 401
    client.cookies.clear()
    for stale in (reader.refresh_token, elsewhere.refresh_token):
        assert (await client.post("/api/auth/refresh", json={"refresh_token": stale})).status_code == 401
    assert (await client.get("/api/auth/me", headers=bearer(fresh["access_token"]))).status_code == 200
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    ).status_code == 200
    assert (await login(client, "reader", USER_PASSWORD)).status_code == 401
    assert (await login(client, "reader", "密" * 24)).status_code == 200


async def test_owner_reset_role_change_and_deletion_revoke_tokens(
    client: httpx.AsyncClient,
    owner: Account,
    admin: Account,
    reader: Account,
) -> None:
    reset = await client.put(
        f"/api/users/{reader.user.id}", headers=owner.headers, json={"password": "reset-password-1"}
    )
    assert reset.status_code == 200
    assert (await client.get("/api/auth/me", headers=reader.headers)).status_code == 401
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": reader.refresh_token})
    ).status_code == 401
    assert (await login(client, "reader", "reset-password-1")).status_code == 200
    client.cookies.clear()  # the cookie would take precedence over the body below

    same = await client.put(
        f"/api/users/{admin.user.id}",
        headers=owner.headers,
        json={"role": "admin", "language_preference": "zh"},
    )
    assert same.status_code == 200  # an edit that changes no role keeps the sessions
    assert (await client.get("/api/devices", headers=admin.headers)).status_code == 200
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": admin.refresh_token})
    ).status_code == 200
    admin_refresh = await tokens_for(client._transport.app.state.settings, admin.user)  # type: ignore[attr-defined]
    demoted = await client.put(
        f"/api/users/{admin.user.id}", headers=owner.headers, json={"role": "read_only"}
    )
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "read_only"
    assert (await client.get("/api/devices", headers=admin.headers)).status_code == 401
    refused = await client.post("/api/auth/refresh", json={"refresh_token": admin_refresh.refresh_token})
    assert refused.status_code == 401  # a role change signs the user out everywhere
    admin_refresh = await tokens_for(client._transport.app.state.settings, admin.user)  # type: ignore[attr-defined]

    deleted = await client.delete(f"/api/users/{admin.user.id}", headers=owner.headers)
    assert deleted.status_code == 204
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": admin_refresh.refresh_token})
    ).status_code == 401
    assert await count_rows(RefreshToken, user_id=admin.user.id) == 0
    assert (await client.get("/api/auth/me", headers=owner.headers)).status_code == 200


async def test_update_me(client: httpx.AsyncClient, reader: Account, admin: Account) -> None:
    answer = await client.put(
        "/api/auth/me", headers=reader.headers, json={"username": "reader_2", "language_preference": "zh"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == "reader_2"
    assert answer.json()["language_preference"] == "zh"
    assert (await client.get("/api/auth/me", headers=reader.headers)).json()["username"] == "reader_2"
    taken = await client.put("/api/auth/me", headers=reader.headers, json={"username": admin.user.username})
    assert taken.status_code == 409
    for body in (
        {"language_preference": "fr"},
        {"username": "no spaces"},
        {"username": "ab"},
        {"username": "x" * 51},
        {"role": "owner"},
    ):
        bad = await client.put("/api/auth/me", headers=reader.headers, json=body)
        assert bad.status_code in (400, 422), (body, bad.text)
    me = (await client.get("/api/auth/me", headers=reader.headers)).json()
    assert (me["username"], me["language_preference"]) == ("reader_2", "zh")
