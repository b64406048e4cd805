"""What start-up and ``ddms migrate`` say about a schema they cannot run on, and the mechanism that
makes SQLite DDL transactional (with ``autocommit_block`` still outside any transaction).

Never "database unreachable" for a schema problem: the version it is at, the version needed, and
what to do.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ddms import db
from ddms.migrate import SchemaError, label, require_current, transactional_sqlite, upgrade
from tests.conftest import create_pg_database, drop_pg_database
from tests.migrations.test_kill import ROOT, child_env, revisions, snapshot


# Schema messages do not depend on TimescaleDB; its own (TIMESCALEDB=on) are in test_history_timescale.
@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ddms.db'}"
        return
    created = await create_pg_database()
    try:
        yield created
    finally:
        await drop_pg_database(created)


async def execute(url: str, *statements: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def schema_error(url: str) -> str:
    with pytest.raises(SchemaError) as raised:
        await require_current(url)
    return raised.value.detail


async def test_behind_empty_and_newer_schemas_are_named(url: str) -> None:
    versions = revisions()
    head = label(versions[-1])
    assert (
        await schema_error(url) == f"the database is empty, this DDMS needs schema {head}: run ddms migrate"
    )
    await upgrade(url, versions[-2])
    expected = f"the database schema is at {label(versions[-2])}, this DDMS needs {head}: run ddms migrate"
    assert await schema_error(url) == expected
    await upgrade(url)
    await require_current(url)  # at head: nothing to say
    await execute(url, "UPDATE alembic_version SET version_num = '999_from_the_future'")
    newer = await schema_error(url)
    assert newer.startswith("the database schema is at 999, newer than this DDMS knows")
    with pytest.raises(SchemaError, match="newer than this DDMS knows"):
        await upgrade(url)


async def test_a_version_left_half_applied_by_an_old_release_is_named(url: str) -> None:
    """What a non-atomic run killed in 002 left (its first table, no stamp): upgrading names 002,
    says the database is still at 001, and changes nothing."""
    versions = revisions()
    await upgrade(url, versions[0])
    await execute(url, "CREATE TABLE readings_rollup_dirty (device_id CHAR(32), hour_start TIMESTAMP)")
    before = await asyncio.to_thread(snapshot, url)
    with pytest.raises(SchemaError) as raised:
        await upgrade(url)
    message = raised.value.detail
    assert message.startswith(f"migration {label(versions[1])} was interrupted by an earlier DDMS"), message
    assert f"the database is at {label(versions[0])}" in message
    assert "unreachable" not in message
    assert await asyncio.to_thread(snapshot, url) == before


async def test_tables_without_a_version_stamp_are_named(url: str) -> None:
    await execute(url, "CREATE TABLE users (id INTEGER PRIMARY KEY)")
    message = await schema_error(url)
    assert message.startswith("the database has tables but no version stamp"), message


def test_serve_without_migrating_names_the_versions(tmp_path: Path) -> None:
    """``ddms serve --no-migrate`` on an old database: one line and exit code 1, before the app starts."""
    versions = revisions()
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    asyncio.run(upgrade(url, versions[-2]))
    done = subprocess.run(
        [sys.executable, "-m", "ddms", "serve", "--no-migrate"],
        env=child_env(url, tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: the database schema is at {label(versions[-2])}, this DDMS needs {label(versions[-1])}: "
        "run ddms migrate"
    )


async def test_sqlite_ddl_rolls_back_and_autocommit_stays_outside(tmp_path: Path) -> None:
    engine = transactional_sqlite(db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 't.db'}"))
    try:
        async with engine.connect() as connection:
            await connection.execute(text("CREATE TABLE kept (id INTEGER)"))
            await connection.execute(text("INSERT INTO kept VALUES (1)"))
            await connection.rollback()  # DDL and DML together, as one migration version
            names = (await connection.execute(text("SELECT name FROM sqlite_master"))).scalars().all()
            assert names == []
            with pytest.raises(OperationalError, match="within a transaction"):
                await connection.execute(text("VACUUM"))  # proof that a transaction is open
            await connection.rollback()
            outside = await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with outside.begin():  # what Alembic's autocommit_block() does
                await outside.execute(text("VACUUM"))
    finally:
        await engine.dispose()
