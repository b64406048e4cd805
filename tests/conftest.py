"""Shared fixtures: a real database per backend (SQLite file, PostgreSQL, TimescaleDB), settings, the app.

Every service and API test that asks for ``database`` runs three times: on SQLite, on a fresh plain
PostgreSQL database (5432) and on a fresh TimescaleDB database (the second cluster on 5433 that
``make timescaledb`` sets up), each created for this run and dropped after it. A backend that is
missing is skipped locally and fails in CI (CI=true).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine.url import make_url
from sqlmodel import SQLModel

import ddms.db
import ddms.models
from ddms import runtime
from ddms.config import Settings, load_settings
from ddms.migrate import upgrade

TEST_SECRET = "test-secret-" + "x" * 40
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # noqa: TID251
PG_ADMIN_URL = os.environ.get(  # noqa: TID251
    "DDMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TSDB_ADMIN_URL = os.environ.get(  # noqa: TID251
    "DDMS_TEST_TIMESCALEDB_URL", "postgresql://postgres@127.0.0.1:5433/postgres"
)
# The server backends a fixture can ask for, and the admin URL of each.
ADMIN_URLS = {"postgresql": PG_ADMIN_URL, "timescaledb": TSDB_ADMIN_URL}
BACKENDS = ["sqlite", "postgresql", "timescaledb"]


def backend_unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a CI run must exercise every backend."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires it)")
    pytest.skip(reason)


async def _timescale_missing(conn: asyncpg.Connection) -> str | None:
    """Why this server cannot create the timescaledb extension (None: it can)."""
    if await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'") is None:
        return "the timescaledb extension is not installed there"
    if "timescaledb" not in str(await conn.fetchval("SHOW shared_preload_libraries")):
        return "timescaledb is not in its shared_preload_libraries"
    return None


async def create_pg_database(backend: str = "postgresql") -> str:
    """A fresh, empty database on ``backend``'s server; returns its asyncpg SQLAlchemy URL."""
    admin_url = ADMIN_URLS[backend]
    name = f"ddms_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(admin_url, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        backend_unavailable(f"{backend}: PostgreSQL not reachable at {admin_url}: {exc}")
    try:
        if backend == "timescaledb" and (missing := await _timescale_missing(conn)) is not None:
            backend_unavailable(f"timescaledb: {missing} ({admin_url}; run make timescaledb as root)")
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    """Drop the database of ``url`` (on whichever test server holds it)."""
    parsed = make_url(url)
    admin_url = make_url(PG_ADMIN_URL).set(host=parsed.host, port=parsed.port, database="postgres")
    conn = await asyncpg.connect(admin_url.render_as_string(hide_password=False), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


async def migrated(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database of ``backend`` at head (TimescaleDB required on the timescaledb backend)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'ddms.db'}"
        await upgrade(url)
        return url
    url = await create_pg_database(backend)
    try:
        await upgrade(url, timescaledb="on" if backend == "timescaledb" else "off")
    except BaseException:
        await drop_pg_database(url)
        raise
    return url


@pytest.fixture(scope="session", params=BACKENDS)
async def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database of each backend, shared by the tests of one run."""
    url = await migrated(request.param, tmp_path_factory)
    try:
        yield url
    finally:
        if request.param != "sqlite":
            await drop_pg_database(url)


async def truncate_all(database: ddms.db.Database) -> None:
    """Empty every table (children first) so the next test starts clean."""
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    async with database.engine.begin() as conn:
        if database.is_postgres:
            # Only tables that exist here (TRUNCATE fails on a missing one).
            real = set(
                (
                    await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                    )
                ).scalars()
            )
            await conn.execute(text(f"TRUNCATE {', '.join(t for t in tables if t in real)} CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[ddms.db.Database]:
    """A fresh ``Runtime`` on ``url``, current while the block runs; the database emptied afterwards.

    An app started meanwhile makes its own runtime current until it stops (test code then reaches
    the app's bus, caches and throttle), so nothing is reset by hand.
    """
    database = ddms.db.Database(url)
    with runtime.installed(runtime.Runtime(database=database)):
        try:
            yield database
        finally:
            await truncate_all(database)
            await database.dispose()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[ddms.db.Database]:
    """The current runtime's database for one test (each backend); emptied afterwards."""
    async with fresh_database(db_url) as database:
        yield database


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(db_url: str, data_dir: Path) -> Settings:
    """Settings for an app under test: the test database, no collector, plain-HTTP cookies."""
    return load_settings(
        database_url=db_url,
        ddms_data_dir=data_dir,
        jwt_secret_key=TEST_SECRET,
        cookie_secure=False,
        collector_enabled=False,
        auto_migrate=False,
        ddms_owner_password="owner-password-1",
        sse_interval=0.5,
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without DDMS variables, for configuration tests (monkeypatch restores it)."""
    for name in list(os.environ):  # noqa: TID251
        if name.upper() in Settings.model_fields or name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)
    return monkeypatch
