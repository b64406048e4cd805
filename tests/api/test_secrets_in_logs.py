"""Passwords, hashes and tokens never reach the log (at any level) or an answer."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.api.conftest import Account
from tests.api.helpers import OWNER_PASSWORD, password_hash


async def test_no_secret_in_logs_or_answers(
    client: httpx.AsyncClient,
    owner: Account,
    reader: Account,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = {
        OWNER_PASSWORD,
        "created-password-1",
        "reset-password-22",
        "changed-password-3",
        "wrong-password-4",
        password_hash(OWNER_PASSWORD),
        owner.access_token,
        owner.refresh_token,
    }
    answers: list[httpx.Response] = []
    with caplog.at_level(logging.DEBUG):
        answers.append(
            await client.post("/api/auth/login", json={"username": "admin", "password": "wrong-password-4"})
        )
        login = await client.post("/api/auth/login", json={"username": "admin", "password": OWNER_PASSWORD})
        tokens = login.json()
        secrets |= {tokens["access_token"], tokens["refresh_token"]}
        refreshed = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        secrets |= set(refreshed.json().values()) - {"bearer"}
        headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        created = await client.post(
            "/api/users",
            headers=headers,
            json={"username": "made", "password": "created-password-1", "role": "admin"},
        )
        answers.append(created)
        answers.append(
            await client.put(
                f"/api/users/{created.json()['id']}", headers=headers, json={"password": "reset-password-22"}
            )
        )
        answers.append(await client.get("/api/users", headers=headers))
        changed = await client.post(
            "/api/auth/change-password",
            headers=headers,
            json={"old_password": OWNER_PASSWORD, "new_password": "changed-password-3"},
        )
        secrets |= set(changed.json().values()) - {"bearer"}
        answers.append(
            await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        )
        answers.append(
            await client.post(
                "/api/users", headers=owner.headers, json={"username": "x", "password": "p" * 80}
            )
        )
    assert [answer.status_code for answer in answers] == [401, 201, 200, 200, 401, 401]
    logged = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert caplog.records, "nothing was logged at all: the check below would be vacuous"
    for secret in secrets:
        assert secret not in logged
    assert "$2b$" not in logged  # no bcrypt hash at all, e.g. a driver echoing SQL parameters
    for answer in answers:
        for secret in secrets:
            assert secret not in answer.text
        assert "$2b$" not in answer.text
        assert "password_hash" not in answer.text
