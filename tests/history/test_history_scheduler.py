"""The history scheduler rolls up new readings, applies retention and takes backups when the cron fires."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from ddms import db, scheduler
from ddms.config import Settings, load_settings
from ddms.db import AsyncSession
from ddms.models import Role, User, utcnow
from ddms.services import auth, backup, users
from tests.history.helpers import add_device, add_rows


async def wait_for(check: object, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            queries = (
                "SELECT count(*) FROM readings",
                'SELECT sum("count") FROM readings_1hour',
                "SELECT count(*) FROM readings_rollup_dirty",
            )
            state = [await scalar(query) for query in queries]
            raise AssertionError(f"timed out: {state}")
        await asyncio.sleep(0.05)


async def scalar(sql: str) -> int:
    async with db.current().engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar() or 0)


def test_next_run_follows_the_cron_schedule() -> None:
    after = datetime(2026, 1, 1, 2, 0, 0, tzinfo=UTC)
    assert scheduler.next_run("0 2 * * *", after) == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    assert scheduler.next_run("*/15 * * * *", after) == datetime(2026, 1, 1, 2, 15, tzinfo=UTC)


@pytest.mark.usefixtures("database")
async def test_scheduler_runs_rollups_retention_and_backups(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = load_settings(
        **(
            settings.model_dump(exclude_unset=True)
            | {"rollup_interval": 0.1, "retention_interval": 0.1, "backup_dir": tmp_path / "b"}
        )
    )
    # The cron fires 0.3 s from "now" instead of at 02:00.
    monkeypatch.setattr(scheduler, "next_run", lambda _schedule, after: after + timedelta(seconds=0.3))
    monkeypatch.setattr(scheduler, "CONFIG_POLL_SECONDS", 0.1)
    device = await add_device("kiln", retention_days=1)
    now = utcnow()
    await add_rows(
        [(device, now - timedelta(minutes=i), float(i)) for i in range(30)]
        + [(device, now - timedelta(days=2, minutes=i), 1.0) for i in range(10)]
    )
    # An expired refresh token (and a live one) for the retention job's token purge.
    async with db.session_scope() as session:
        await auth.issue(
            session=session, settings=settings, user=await _user(session), family_id=uuid.uuid4()
        )
        await session.exec(
            text("UPDATE refresh_tokens SET expires_at = :past"), params={"past": now - timedelta(days=1)}
        )
        await session.commit()
        await auth.issue(
            session=session, settings=settings, user=await _user(session), family_id=uuid.uuid4()
        )
    jobs = scheduler.HistoryScheduler(fast)
    await jobs.start()
    try:
        await wait_for(lambda: _rolled_up_and_trimmed())
        await wait_for(lambda: _has_backup(fast))
        await wait_for(lambda: _tokens_left(1))
    finally:
        await jobs.stop()
    assert await scalar("SELECT count(*) FROM readings") == 30
    assert backup.last_status().error is None


async def _rolled_up_and_trimmed() -> bool:
    return (
        await scalar("SELECT count(*) FROM readings") == 30
        and await scalar('SELECT sum("count") FROM readings_1hour') == 30
        and await scalar("SELECT count(*) FROM readings_rollup_dirty") == 0
    )


async def _user(session: AsyncSession) -> User:
    user = await users.find_by_username(session=session, username="kiln_operator")
    if user is None:
        user = User(username="kiln_operator", password_hash="not-a-hash", role=Role.READ_ONLY)
        session.add(user)
        await session.commit()
    return user


async def _tokens_left(expected: int) -> bool:
    return await scalar("SELECT count(*) FROM refresh_tokens") == expected


async def _has_backup(settings: Settings) -> bool:
    return bool(backup.list_backups(settings))
