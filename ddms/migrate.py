"""Run the Alembic migrations shipped in the ``migrations`` package, and say plainly when they cannot.

Every version runs in one transaction (see ``migrations/env.py``): a run killed half-way leaves the
database at the last version it finished, and ``ddms migrate`` continues from there. What can go
wrong is named for what it is, never as "database unreachable": the schema is older or newer than
this DDMS, a version failed (and was rolled back), or an earlier non-atomic run left a version half
applied (its tables exist without its version stamp).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from ddms import db
from ddms.config import get_settings
from ddms.errors import ConsoleError

HEAD = "head"


class SchemaError(ConsoleError):
    """The database schema is not the one this DDMS runs on, and why (one line, with what to do)."""


def alembic_config(url: str, timescaledb: str | None = None) -> Config:
    """An Alembic config pointing at the packaged versions and at ``url``.

    ``timescaledb`` (auto|on|off) overrides the ``TIMESCALEDB`` setting for the versions that ask.
    """
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if timescaledb is not None:
        config.attributes["timescaledb"] = timescaledb
    return config


def timescale_mode(config: Config) -> str:
    """The TIMESCALEDB mode a migration runs under: the config's override, else the setting."""
    mode = config.attributes.get("timescaledb")
    return str(mode) if mode is not None else get_settings().timescaledb


def _check_timescale(connection: Connection, mode: str) -> None:
    if mode == "on" and not db.has_hypertable(connection):
        raise db.TimescaleRequired(
            "TIMESCALEDB=on but readings is not a TimescaleDB hypertable in this database (it was "
            "migrated without TimescaleDB): migrate into a new database with TimescaleDB preloaded and "
            "restore a backup there, or set TIMESCALEDB=auto"
        )


async def check_timescale(url: str, mode: str) -> None:
    """Raise ``SchemaError`` when ``mode`` is on and ``readings`` is no hypertable (start-up)."""
    if mode != "on":
        return
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_check_timescale, mode)
    except db.TimescaleRequired as exc:
        raise SchemaError(str(exc)) from None
    finally:
        await engine.dispose()


def transactional_sqlite(engine: AsyncEngine) -> AsyncEngine:
    """Make SQLite DDL transactional on ``engine`` (the migration engine; a no-op on PostgreSQL).

    Python's sqlite3 (legacy transaction control) begins a transaction only before INSERT/UPDATE/
    DELETE, so CREATE TABLE and friends autocommit one by one. As the SQLAlchemy pysqlite docs
    advise, the driver's own BEGIN is switched off and the engine emits one at every SQLAlchemy
    transaction start: IMMEDIATE, so that two migrating processes queue on the write lock instead of
    failing. ``autocommit_block()`` (isolation level AUTOCOMMIT) gets no BEGIN.

    Foreign keys are off on this connection, as SQLite's own procedure for schema changes asks
    (and the pragma cannot change inside a transaction): otherwise the DROP TABLE of a batch
    operation on ``devices`` would cascade-delete every reading. ``check_foreign_keys`` runs at the
    end of each version instead, before its COMMIT.
    """
    if not db.is_sqlite_url(engine.url):
        return engine

    def no_driver_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()

    def begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine.sync_engine, "connect", no_driver_begin)
    event.listen(engine.sync_engine, "begin", begin)
    return engine


def check_foreign_keys(connection: Connection, revision: str) -> None:
    """Fail (so roll back) a version that leaves rows pointing nowhere (SQLite; PostgreSQL checks
    foreign keys itself)."""
    if not db.is_sqlite_url(connection.engine.url):
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise RuntimeError(
            f"{len(broken)} row(s) of {', '.join(tables)} left without their parent by {revision}"
        )


def label(revision: str | None) -> str:
    """The version's number as people say it: "002" for ``002_add_continuous_aggregates``."""
    return "none" if revision is None else revision.split("_", 1)[0]


def _script(url: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(url))


def _heads(connection: Connection) -> tuple[tuple[str, ...], list[str]]:
    """The stamped revisions and the tables present (alembic_version excluded)."""
    names = inspect(connection).get_table_names()
    stamped: tuple[str, ...] = ()
    if "alembic_version" in names:
        stamped = tuple(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return stamped, [name for name in names if name != "alembic_version"]


async def _read_state(url: str) -> tuple[tuple[str, ...], list[str]]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_heads)
    finally:
        await engine.dispose()


def _next_after(script: ScriptDirectory, current: str | None) -> str | None:
    """The version that comes after ``current`` (None: already at head)."""
    for candidate in script.walk_revisions():
        if candidate.down_revision == current or (current is None and not candidate.down_revision):
            return str(candidate.revision)
    return None


def schema_problem(url: str, stamped: tuple[str, ...], tables: list[str]) -> str | None:
    """What stops this DDMS from running on a database with ``stamped`` versions and ``tables``."""
    script = _script(url)
    head = script.get_current_head()
    known = {revision.revision for revision in script.walk_revisions()}
    current = stamped[0] if stamped else None
    if current is not None and current not in known:
        return (
            f"the database schema is at {label(current)}, newer than this DDMS knows (it needs "
            f"{label(head)}): run the DDMS release that created it, or restore a backup"
        )
    if current == head:
        return None
    if current is None and tables:
        return (
            f"the database has tables but no version stamp: migration {label(_next_after(script, None))} "
            "was interrupted by an earlier DDMS that did not migrate atomically, or this is not a DDMS "
            "database; restore a backup, or point DATABASE_URL at an empty database"
        )
    if current is None:
        return f"the database is empty, this DDMS needs schema {label(head)}: run ddms migrate"
    return f"the database schema is at {label(current)}, this DDMS needs {label(head)}: run ddms migrate"


async def require_current(url: str) -> None:
    """Raise ``SchemaError`` unless the database is at this DDMS's head (start-up without migrating)."""
    stamped, tables = await _read_state(url)
    problem = schema_problem(url, stamped, tables)
    if problem is not None:
        raise SchemaError(problem)
    await check_timescale(url, get_settings().timescaledb)


def upgrade_sync(url: str, revision: str = HEAD, timescaledb: str | None = None) -> None:
    """Upgrade in the calling thread (Alembic's env runs its own event loop).

    An unreachable database propagates as is (the caller reports the outage); a version that fails
    becomes a ``SchemaError`` naming it, the database still at the version before (rolled back).
    TIMESCALEDB=on (or ``timescaledb="on"``) without TimescaleDB is a one-line ``SchemaError`` too.
    """
    config = alembic_config(url, timescaledb)
    try:
        command.upgrade(config, revision)
    except db.TimescaleRequired as exc:
        raise SchemaError(str(exc)) from None
    except CommandError as exc:  # e.g. a revision this DDMS does not know
        stamped, tables = asyncio.run(_read_state(url))
        raise SchemaError(schema_problem(url, stamped, tables) or str(exc)) from exc
    except Exception as exc:
        if db.is_outage(exc) and not _already_exists(exc):
            raise
        stamped, _tables = asyncio.run(_read_state(url))
        current = stamped[0] if stamped else None
        failed = label(_next_after(_script(url), current))
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        if _already_exists(exc):
            raise SchemaError(
                f"migration {failed} was interrupted by an earlier DDMS that did not migrate atomically "
                f"and left part of it behind ({reason}); the database is at {label(current)}: restore "
                "the backup taken before the upgrade, or drop what that migration created and run "
                "ddms migrate"
            ) from exc
        still = label(current)
        raise SchemaError(
            f"migration {failed} failed and was rolled back, the database is still at {still}: {reason}"
        ) from exc


def _already_exists(exc: BaseException) -> bool:
    return "already exists" in str(getattr(exc, "orig", None) or exc)


async def upgrade(url: str, revision: str = HEAD, timescaledb: str | None = None) -> None:
    """Upgrade from async code: the migration runs in a worker thread with its own loop."""
    await asyncio.to_thread(upgrade_sync, url, revision, timescaledb)
    await check_timescale(url, timescale_mode(alembic_config(url, timescaledb)))
