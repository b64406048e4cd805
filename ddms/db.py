"""The async engine and sessions, and the one place where SQLite and PostgreSQL differ.

The app's lifespan opens a ``Database`` for its ``Runtime`` (a CLI command or a test fixture calls
``configure()``); every service receives an ``AsyncSession`` from ``session_scope()`` or the API's
session dependency.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession as AsyncSession  # re-export: API imports no SQL

from ddms import runtime

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    async def dispose(self) -> None:
        await self.engine.dispose()


class DedicatedConnection:
    """One PostgreSQL connection outside the pool, kept for the life of the process (cluster locks).

    ``driver`` is the asyncpg connection itself: session advisory locks, LISTEN and NOTIFY need one
    connection that the pool never hands to anyone else nor resets. Opened through SQLAlchemy so
    that no module outside the data layer imports asyncpg.
    """

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection, driver: Any) -> None:
        self._engine, self._connection, self.driver = engine, connection, driver

    @classmethod
    async def open(cls, url: str) -> DedicatedConnection:
        if is_sqlite_url(url):
            raise ValueError("a dedicated connection is a PostgreSQL feature")
        from sqlalchemy.pool import NullPool

        engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 10})
        try:
            connection = await engine.connect()
            raw = await connection.get_raw_connection()
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, connection, raw.driver_connection)

    def abort(self) -> None:
        """Drop the connection at once, without a word to the server (its locks go when it notices)."""
        self.driver.terminate()

    async def close(self) -> None:
        try:
            if not self.driver.is_closed():
                await self.driver.close(timeout=2)
        except Exception:
            self.driver.terminate()
        try:
            await self._connection.invalidate()
            await self._connection.close()
        except Exception:
            logger.debug("dedicated connection already gone", exc_info=True)
        await self._engine.dispose()


def create_engine(url: str) -> AsyncEngine:
    """An engine tuned per backend: SQLite in WAL mode with foreign keys; PostgreSQL pooled 10-20."""
    parsed = make_url(url)
    if is_sqlite_url(parsed):
        if parsed.database and parsed.database != ":memory:":
            private_sqlite_file(Path(parsed.database))
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"timeout": 10, "command_timeout": 60},
    )


PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_sqlite_file(path: Path) -> None:
    """Make the SQLite file owner-only (0600) before SQLite opens it, in a 0700 directory if we create it.

    The database holds password hashes and refresh tokens. SQLite creates its ``-wal`` and ``-shm``
    files with the mode of the database file, so creating the file 0600 first covers all three; files
    left by an older version are tightened too. An existing directory keeps its mode (it may be shared).
    """
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    path.touch(mode=PRIVATE_FILE_MODE, exist_ok=True)
    for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if existing.exists():
            existing.chmod(PRIVATE_FILE_MODE)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def configure(url: str) -> Database:
    """Make ``url`` the current runtime's database (replacing any earlier one, which the caller disposes)."""
    database = runtime.current().database = Database(url)
    return database


def current() -> Database:
    """The current runtime's database; raises if start-up has not configured one."""
    database = runtime.current().database
    if database is None:
        raise RuntimeError("database not configured: call ddms.db.configure() first")
    return database


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A session for one unit of work, rolled back if the block raises."""
    async with current().sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise


async def serialize(session: AsyncSession, name: str) -> None:
    """Make transactions about ``name`` run one after another, until this one ends.

    PostgreSQL: a transaction-level advisory lock on a 64-bit hash of ``name`` (also across instances).
    SQLite: nothing to take, because a write transaction already excludes every other writer; the
    caller's next statement must be a write, so the transaction holds the write lock before it reads.
    """
    if not is_postgres(session):
        return
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=key))  # type: ignore[call-overload]


# Exceptions that always mean "the database cannot be reached" (the API answers them with 503).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, OSError, TimeoutError)


# SQLSTATE classes of a server that cannot serve now: 08 (connection exception), 57P (operator
# intervention: shutting down, crash recovery, "the database system is starting up" / "is not
# accepting connections"), whichever exception class the driver wraps them in.
OUTAGE_SQLSTATES = ("08", "57P")


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached (not that a query was wrong)."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return bool(exc.connection_invalidated) or (
        isinstance(sqlstate, str) and sqlstate.startswith(OUTAGE_SQLSTATES)
    )


def current_or_none() -> Database | None:
    return runtime.current().database


def dialect_of(target: AsyncSession | AsyncConnection) -> str:
    """``"postgresql"`` or ``"sqlite"``: the backend a session (or connection) talks to.

    Services ask this, or ``is_postgres``, instead of reading SQLAlchemy's dialect themselves: the
    backends differ only in the SQL chosen here and in the few bulk paths that test these.
    """
    if isinstance(target, AsyncConnection):
        return target.dialect.name
    return target.get_bind().dialect.name


def is_postgres(target: AsyncSession | AsyncConnection) -> bool:
    return dialect_of(target) == "postgresql"


def is_sqlite_url(url: str | URL) -> bool:
    """Whether a database URL names SQLite (for work done before or without an engine: backups)."""
    return make_url(url).get_backend_name() == "sqlite"


def time_bucket_sql(dialect: str, column: str, seconds: int) -> str:
    """SQL for the start of the ``seconds``-wide UTC bucket holding ``column``, aligned on the Unix epoch.

    PostgreSQL uses ``date_bin``; SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" text, so minute, hour
    and day buckets are cut from the text and other widths go through whole epoch seconds (never
    ``strftime('%s', ...)`` on the full value: it rounds 59.9999 s up to the next minute). The result
    has the same text layout, so it compares and sorts like a stored timestamp.
    """
    if dialect == "postgresql":
        return f"date_bin(INTERVAL '{int(seconds)} seconds', {column}, TIMESTAMPTZ '1970-01-01 00:00:00+00')"
    # Widths that divide a minute, an hour or a day are cut and rounded as text (no date functions
    # per row). Literals never start with ":<digits>", which text() would take for a bind parameter.
    seconds = int(seconds)
    if seconds == 60:
        return f"(substr({column}, 1, 17) || '00.000000')"
    if seconds == 3600:
        return f"(substr({column}, 1, 14) || '00:00.000000')"
    if seconds == 86400:
        return f"(substr({column}, 1, 11) || '00:00:00.000000')"
    text_units = ((1, 18, "%02d.000000"), (60, 15, "%02d:00.000000"), (3600, 12, "%02d:00:00.000000"))
    for unit, start, fmt in text_units:
        step = seconds // unit
        if seconds % unit == 0 and (unit * 60 if unit < 3600 else 86400) % seconds == 0:
            field = f"CAST(substr({column}, {start}, 2) AS INTEGER)"
            return f"(substr({column}, 1, {start - 1}) || printf('{fmt}', ({field} / {step}) * {step}))"
    epoch = f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"
    return f"strftime('%Y-%m-%d %H:%M:%S.000000', ({epoch} / {int(seconds)}) * {int(seconds)}, 'unixepoch')"


def iso_text_sql(dialect: str, column: str) -> str:
    """SQL rendering a stored UTC timestamp as ISO 8601 text with offset ("2026-01-02T03:04:05.000000+00:00").

    Used by bulk paths (CSV export) so that no Python datetime is built per row.
    """
    if dialect == "postgresql":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    return f"(replace({column}, ' ', 'T') || '+00:00')"


def add_seconds_sql(dialect: str, column: str, seconds: int) -> str:
    """SQL for the stored UTC timestamp ``column`` plus ``seconds`` (whole seconds), in the stored layout.

    SQLite's result keeps the "YYYY-MM-DD HH:MM:SS.ffffff" text of stored values (fractions dropped:
    used on bucket starts), so it compares with them as text.
    """
    if dialect == "postgresql":
        return f"({column} + INTERVAL '{int(seconds)} seconds')"
    return f"strftime('%Y-%m-%d %H:%M:%S.000000', {column}, '+{int(seconds)} seconds')"


class TimescaleRequired(Exception):
    """TIMESCALEDB=on and TimescaleDB cannot be used here; the message is one line saying why."""


def timescale_blocker(connection: Connection) -> str | None:
    """Why ``CREATE EXTENSION timescaledb`` would fail on this PostgreSQL connection (None: it works).

    Checked before trying: once the files are installed every cluster lists the extension as
    available, but one that does not preload it answers CREATE EXTENSION with a FATAL error that
    drops the connection (no savepoint can catch that).
    """
    installed = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first()
    if installed is not None:
        return None
    offered = connection.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).first()
    if offered is None:
        return "the timescaledb extension is not installed on this PostgreSQL server"
    preload = str(connection.execute(text("SHOW shared_preload_libraries")).scalar() or "")
    if "timescaledb" not in [name.strip() for name in preload.split(",")]:
        return "the timescaledb extension is installed but not in shared_preload_libraries"
    return None


def use_timescale(connection: Connection, mode: str) -> bool:
    """Whether the migration makes ``readings`` a TimescaleDB hypertable (``TIMESCALEDB`` = ``mode``).

    off: never. auto: when the extension can be created (it is then created), else plain PostgreSQL
    with one warning naming the setting. on: raises ``TimescaleRequired`` when it cannot be created.
    """
    if connection.dialect.name != "postgresql" or mode == "off":
        if mode == "on":
            raise TimescaleRequired("TIMESCALEDB=on refuses to migrate: the database is not PostgreSQL")
        return False
    blocker = timescale_blocker(connection)
    if blocker is not None:
        if mode == "on":
            raise TimescaleRequired(f"TIMESCALEDB=on refuses to migrate: {blocker}")
        logger.warning("%s: using plain PostgreSQL (TIMESCALEDB=off silences this)", blocker)
        return False
    connection.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    return True


def has_hypertable(connection: Connection) -> bool:
    """True when ``readings`` is a TimescaleDB hypertable on this (synchronous) connection."""
    if connection.dialect.name != "postgresql":
        return False
    if connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first() is None:
        return False
    return bool(
        connection.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE "
                "hypertable_name = 'readings' AND hypertable_schema = current_schema())"
            )
        ).scalar()
    )


async def is_timescale(session: AsyncSession) -> bool:
    """True when ``readings`` is a TimescaleDB hypertable (cached per database URL in the runtime)."""
    bind = session.bind
    url = str(bind.sync_engine.url) if bind is not None else ""
    known = runtime.current().hypertables
    if url not in known:
        if not is_postgres(session):
            known[url] = False
        else:
            connection = await session.connection()
            known[url] = await connection.run_sync(has_hypertable)
    return known[url]


async def timescale_restore_begin(url: str) -> str | None:
    """Ready the PostgreSQL database at ``url`` for pg_restore of a TimescaleDB dump.

    Creates the extension when missing and calls ``timescaledb_pre_restore()`` (restoring mode for
    the sessions that start after it, pg_restore's included). Returns why it cannot (None: ready).
    """
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            blocker = await connection.run_sync(timescale_blocker)
            if blocker is not None:
                return blocker
            await connection.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
            await connection.execute(text("SELECT timescaledb_pre_restore()"))
    finally:
        await engine.dispose()
    return None


async def timescale_restore_end(url: str) -> None:
    """Leave restoring mode (``timescaledb_post_restore()``) after pg_restore, whether it worked or not."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("SELECT timescaledb_post_restore()"))
    finally:
        await engine.dispose()


async def timescale_installed(url: str) -> bool:
    """Whether the PostgreSQL database at ``url`` has the timescaledb extension (restores ask)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))
            return found.first() is not None
    finally:
        await engine.dispose()
