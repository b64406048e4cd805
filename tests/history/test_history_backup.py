"""Backup then restore round-trips the data; retention count; a clear error without pg_dump."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Float, String, Uuid, text

from ddms import db
from ddms.config import Settings, load_settings
from ddms.errors import Unavailable
from ddms.models import UTCDateTime
from ddms.services import backup
from tests.history.helpers import add_device, add_rows

pytestmark = pytest.mark.usefixtures("database")

T0 = datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)


async def snapshot() -> tuple[list[tuple], list[tuple]]:
    devices = text("SELECT id, name FROM devices ORDER BY name").columns(id=Uuid(), name=String())
    rows = text('SELECT device_id, "timestamp", value FROM readings ORDER BY device_id, "timestamp"').columns(
        device_id=Uuid(), timestamp=UTCDateTime(), value=Float()
    )
    async with db.current().engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(devices)).all()], [
            tuple(r) for r in (await conn.execute(rows)).all()
        ]


@pytest.fixture
def backup_settings(settings: Settings, tmp_path: Path) -> Settings:
    return load_settings(**(settings.model_dump(exclude_unset=True) | {"backup_dir": tmp_path / "backups"}))


async def test_backup_then_restore_brings_the_data_back(backup_settings: Settings) -> None:
    pump = await add_device('Pumpe "7", Süd')
    await add_rows([(pump, T0 + timedelta(seconds=i), i * 0.5) for i in range(2000)])
    before = await snapshot()

    path = await backup.create_backup(backup_settings)
    assert path.exists()
    assert path.stat().st_size > 0
    assert backup.last_status().error is None
    assert backup.last_status().path == path

    # Damage: delete readings, add a device that was not in the backup.
    async with db.current().engine.begin() as conn:
        await conn.execute(text("DELETE FROM readings"))
    await add_device("after the backup")
    assert await snapshot() != before

    await db.current().engine.dispose()  # restore as the console does: no open connections
    await backup.restore_backup(backup_settings, path)
    assert await snapshot() == before


async def test_retention_count_keeps_only_the_newest(backup_settings: Settings) -> None:
    await add_device("one")
    made = [await backup.create_backup(backup_settings, keep=2) for _ in range(3)]
    assert backup.list_backups(backup_settings) == [made[2], made[1]]
    assert not made[0].exists()


async def test_missing_pg_dump_is_a_clear_error(
    backup_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    if not db.current().is_postgres:  # SQLite needs no external tool at all
        assert (await backup.create_backup(backup_settings)).exists()
        assert backup.problem(backup_settings) is None
        return
    problem = backup.problem(backup_settings)  # before any attempt: a coded error the page translates
    assert isinstance(problem, Unavailable)
    assert problem.code == "pg_tools_missing"
    assert "pg_dump was not found" in problem.detail
    with pytest.raises(Unavailable, match="pg_dump was not found"):
        await backup.create_backup(backup_settings)
    assert "pg_dump was not found" in (backup.last_status().error or "")
