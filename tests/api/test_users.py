"""Account management by the owner: creation rules, edits, deletion, and no hash in any answer."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ddms.models import User
from tests.api.conftest import Account
from tests.api.helpers import count_rows

USER_FIELDS = {"id", "username", "role", "language_preference", "created_at", "updated_at"}


def new_user(**changes: object) -> dict[str, object]:
    return {
        "username": "new_user_1",
        "password": "good-password",
        "role": "admin",
        "language_preference": "zh",
    } | changes


async def test_create_user_and_read_it_back(
    client: httpx.AsyncClient, owner: Account, admin: Account
) -> None:
    created = await client.post("/api/users", headers=owner.headers, json=new_user())
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == USER_FIELDS
    assert (body["username"], body["role"], body["language_preference"]) == ("new_user_1", "admin", "zh")
    assert body["created_at"].endswith("+00:00")
    listed = await client.get("/api/users", headers=admin.headers)
    assert listed.json()[0]["role"] == "owner"  # owner first
    assert body["id"] in [user["id"] for user in listed.json()]
    fetched = await client.get(f"/api/users/{body['id']}", headers=admin.headers)
    assert fetched.json() == body
    for answer in (created, listed, fetched):
        assert "password" not in answer.text
        assert "$2b$" not in answer.text
        assert "token_version" not in answer.text
    defaults = await client.post(
        "/api/users", headers=owner.headers, json={"username": "plain", "password": "good-password"}
    )
    assert (defaults.json()["role"], defaults.json()["language_preference"]) == ("read_only", "en")


CREATE_RULES = [
    ({"username": "ab"}, 422),
    ({"username": "x" * 51}, 422),
    ({"username": "has space"}, 422),
    ({"username": "dash-ed"}, 422),
    ({"username": "ünïcode"}, 422),
    ({"password": "short12"}, 400),
    ({"password": "p" * 73}, 400),
    ({"password": "密" * 25}, 400),
    ({"password": "p" * 5000}, 422),
    ({"role": "owner"}, 403),
    ({"role": "superuser"}, 422),
    ({"language_preference": "fr"}, 422),
    ({"is_admin": True}, 422),
    ({"username": 123}, 422),
    ({"password": None}, 422),
]


async def test_create_user_rules(client: httpx.AsyncClient, owner: Account) -> None:
    before = await count_rows(User)
    for changes, status in CREATE_RULES:
        answer = await client.post("/api/users", headers=owner.headers, json=new_user(**changes))
        assert answer.status_code == status, (changes, answer.text)
        assert answer.json()["detail"]
    assert await count_rows(User) == before


async def test_create_user_boundaries(client: httpx.AsyncClient, owner: Account) -> None:
    for username, password in (("abc", "p" * 8), ("A" * 50, "p" * 72), ("a_1", "密" * 24)):
        answer = await client.post(
            "/api/users", headers=owner.headers, json=new_user(username=username, password=password)
        )
        assert answer.status_code == 201, (username, answer.text)


async def test_duplicate_username_is_409(client: httpx.AsyncClient, owner: Account, admin: Account) -> None:
    answer = await client.post(
        "/api/users", headers=owner.headers, json=new_user(username=admin.user.username)
    )
    assert answer.status_code == 409
    assert admin.user.username in answer.json()["detail"]
    owner_name = await client.post("/api/users", headers=owner.headers, json=new_user(username="admin"))
    assert owner_name.status_code == 409


async def test_owner_cannot_be_deleted_or_demoted(
    client: httpx.AsyncClient, owner: Account, admin: Account
) -> None:
    owner_id = owner.user.id
    assert (await client.delete(f"/api/users/{owner_id}", headers=owner.headers)).status_code == 403
    for role in ("admin", "read_only"):
        answer = await client.put(f"/api/users/{owner_id}", headers=owner.headers, json={"role": role})
        assert answer.status_code == 403, answer.text
    promote = await client.put(f"/api/users/{admin.user.id}", headers=owner.headers, json={"role": "owner"})
    assert promote.status_code == 403
    roles = {
        user["username"]: user["role"]
        for user in (await client.get("/api/users", headers=owner.headers)).json()
    }
    assert roles == {"admin": "owner", admin.user.username: "admin"}
    assert (await client.get("/api/auth/me", headers=owner.headers)).status_code == 200


async def test_update_user(client: httpx.AsyncClient, owner: Account, reader: Account) -> None:
    answer = await client.put(
        f"/api/users/{reader.user.id}",
        headers=owner.headers,
        json={"role": "admin", "language_preference": "zh"},
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["role"], answer.json()["language_preference"]) == ("admin", "zh")
    for body, status in (
        ({"password": "short"}, 400),
        ({"password": "p" * 73}, 400),
        ({"role": "boss"}, 422),
        ({"username": "renamed"}, 422),
        ({"language_preference": 1}, 422),
    ):
        bad = await client.put(f"/api/users/{reader.user.id}", headers=owner.headers, json=body)
        assert bad.status_code == status, (body, bad.text)
    again = await client.get(f"/api/users/{reader.user.id}", headers=owner.headers)
    assert (again.json()["role"], again.json()["username"]) == ("admin", "reader")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, owner: Account, method: str) -> None:
    body = {"language_preference": "en"} if method == "PUT" else None
    unknown = await client.request(method, f"/api/users/{uuid.uuid4()}", headers=owner.headers, json=body)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "User not found"}
    for bad in ("not-a-uuid", "123", "%20", "0" * 40):
        answer = await client.request(method, f"/api/users/{bad}", headers=owner.headers, json=body)
        assert 400 <= answer.status_code < 500, (bad, answer.text)
        assert answer.json()["detail"]
