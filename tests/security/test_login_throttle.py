"""The login throttle under concurrency and abuse, and logins that cannot starve the rest of the app.

Each test runs the real REST app (``tests/api/conftest.py``) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from ddms import db
from ddms.models import LoginFailure
from ddms.security import PasswordSlots
from ddms.services import auth
from tests.api.conftest import app, client  # noqa: F401  (fixtures)
from tests.api.helpers import OWNER_PASSWORD, count_rows
from tests.services.test_cli import ddms_command

WRONG = "wrong-password-1"
DEADLINE = 60.0


def client_at(application: FastAPI, address: str) -> httpx.AsyncClient:
    """An HTTP client of the app that connects from ``address``."""
    transport = httpx.ASGITransport(app=application, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/auth/login", json={"username": username, "password": password})


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` with a generous deadline (a loaded machine is slow, never wrong)."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def record_failures(username: str, address: str, count: int) -> None:
    """``count`` failed logins as wrong passwords would leave them (without bcrypt rounds)."""
    for _ in range(count):
        async with db.session_scope() as session:
            attempt = await auth.throttle().reserve(session=session, username=username, client=address)
            auth.throttle().failed(attempt)


@pytest.fixture
def roomy_slots(app: FastAPI) -> None:
    """Enough password slots in the app that only the throttle decides who gets a password check."""
    app.state.runtime.password_slots = PasswordSlots(size=64, wait=DEADLINE)


async def test_a_concurrent_burst_checks_at_most_five_passwords(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    roomy_slots: None,
) -> None:
    """39 wrong passwords at once, then the right one while they are being checked: 5 checks, no login."""
    checking = 0
    release = asyncio.Event()
    real_verify = auth.verify_password

    async def held_verify(password: str, password_hash: str | None) -> bool:
        nonlocal checking
        checking += 1
        await release.wait()
        return await real_verify(password, password_hash)

    monkeypatch.setattr(auth, "verify_password", held_verify)
    burst = [asyncio.create_task(login(client, "admin", WRONG)) for _ in range(39)]
    try:
        decided = lambda: checking + sum(task.done() for task in burst) == len(burst)  # noqa: E731
        await until(decided, "every attempt to be checked or refused")
        assert checking == auth.throttle().limit  # not one check more than the limit, however many arrived
        right = asyncio.create_task(login(client, "admin", OWNER_PASSWORD))  # while five are being checked
        await until(lambda: right.done() or checking > auth.throttle().limit, "the right password's answer")
    finally:
        release.set()
        answers = [answer.status_code for answer in await asyncio.gather(*burst)]
    assert (await right).status_code == 429
    assert sorted(answers) == [401] * 5 + [429] * 34
    assert checking == auth.throttle().limit


async def test_a_stranger_cannot_lock_the_owner_out_of_another_address(app: FastAPI) -> None:
    async with client_at(app, "10.0.0.66") as stranger, client_at(app, "10.0.0.1") as owner:
        for _ in range(auth.throttle().limit):
            assert (await login(stranger, "admin", WRONG)).status_code == 401
        locked = await login(stranger, "admin", OWNER_PASSWORD)
        assert locked.status_code == 429  # the contract: 5 failures, then 429 from the same client
        assert (await login(owner, "admin", OWNER_PASSWORD)).status_code == 200


async def test_failures_from_many_addresses_lock_the_name_everywhere(app: FastAPI) -> None:
    per_address = auth.throttle().limit - 1  # below the per-address limit everywhere
    for index, start in enumerate(range(0, auth.throttle().user_limit, per_address)):
        await record_failures(
            "admin", f"10.1.0.{index}", min(per_address, auth.throttle().user_limit - start)
        )
    async with client_at(app, "10.2.0.1") as owner:
        refused = await login(owner, "admin", OWNER_PASSWORD)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) > 0


async def test_the_lockout_is_logged_once_when_it_starts(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="ddms"):
        answers = [
            (await login(client, "admin", WRONG)).status_code for _ in range(auth.throttle().limit + 2)
        ]
    assert answers == [401] * auth.throttle().limit + [429, 429]
    lockouts = [record for record in caplog.records if record.getMessage() == "login locked out"]
    assert len(lockouts) == 1
    assert (lockouts[0].username, lockouts[0].client) == ("admin", "127.0.0.1")  # type: ignore[attr-defined]
    assert lockouts[0].levelno == logging.WARNING


async def test_the_console_password_reset_lifts_a_lockout(
    client: httpx.AsyncClient,
    db_url: str,
    tmp_path: Path,
) -> None:
    """``ddms user reset-password`` runs in another process: the lock-out must live where it can reach."""
    for _ in range(auth.throttle().limit):
        assert (await login(client, "admin", WRONG)).status_code == 401
    assert (await login(client, "admin", OWNER_PASSWORD)).status_code == 429
    reset = ddms_command(
        "user", "reset-password", "admin", "--password", "after-reset-1", url=db_url, data_dir=tmp_path
    )
    assert reset.returncode == 0, reset.stderr
    assert (await login(client, "admin", "after-reset-1")).status_code == 200
    assert await count_rows(LoginFailure) == 0


async def test_a_login_flood_gets_quick_answers_and_never_starves_health(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """100 logins at once: no 500, each refused or answered 503 + Retry-After when the slots are full;
    logins hold at most one pooled connection per slot, so health always has one."""
    slots = PasswordSlots(size=2)  # as on a 2-core machine: on 64 cores 100 checks could all fit in time
    app.state.runtime.password_slots = slots
    checked_out = peak = 0

    def on_checkout(*_args: object) -> None:
        nonlocal checked_out, peak
        checked_out += 1
        peak = max(peak, checked_out)

    def on_checkin(*_args: object) -> None:
        nonlocal checked_out
        checked_out -= 1

    quiet = await timed_health(client)
    engine = app.state.runtime.database.engine.sync_engine  # the app's pool
    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    try:
        answers, health = await flood_with_health(
            client,
            [login(client, f"nobody_{index}" if index % 10 else "admin", WRONG) for index in range(100)],
        )
    finally:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "checkin", on_checkin)
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {401, 429, 503}, statuses
    assert 503 in statuses  # the slots really were full: the flood is what this test is about
    refused = [answer for answer in answers if answer.status_code in (429, 503)]
    assert all(int(answer.headers["retry-after"]) > 0 for answer in refused)
    assert peak <= slots.size + 1, f"{peak} connections checked out at once ({slots.size} slots + health)"
    assert health, "health was never asked during the flood"
    assert all(status == 200 for status, _seconds in health)
    slowest = max(seconds for _status, seconds in health)
    assert slowest < max(5.0, 50 * quiet), f"health took {slowest:.2f} s in the flood, {quiet:.3f} s quiet"


async def timed_health(http: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    assert (await http.get("/api/health")).status_code == 200
    return time.perf_counter() - started


async def flood_with_health(
    http: httpx.AsyncClient, requests: list[Awaitable[httpx.Response]]
) -> tuple[list[httpx.Response], list[tuple[int, float]]]:
    """Run ``requests`` at once while asking /api/health one after another until they are done."""
    flood = asyncio.ensure_future(asyncio.gather(*requests))
    health: list[tuple[int, float]] = []
    while not flood.done():
        started = time.perf_counter()
        answer = await http.get("/api/health")
        health.append((answer.status_code, time.perf_counter() - started))
    return await flood, health
