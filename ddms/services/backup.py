"""Backups and restores of the whole database, kept in the backup directory with a retention count.

SQLite is copied with the online backup API (consistent while the app keeps writing; WAL-safe);
PostgreSQL with ``pg_dump --format=custom`` and restored with ``pg_restore --clean``. When the
PostgreSQL client tools are missing the error says so plainly, is logged, and is kept in
``last_status()`` for the settings page. Files are named ``ddms_<YYYYMMDD_HHMMSS>.db|.dump``; only the
newest ``retention_count`` are kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine.url import URL, make_url

from ddms import db, runtime
from ddms.config import Settings
from ddms.errors import DDMSError, Invalid, NotFound, Unavailable
from ddms.models import utcnow

logger = logging.getLogger(__name__)

PREFIX = "ddms_"
SQLITE_SUFFIX = ".db"
PG_SUFFIX = ".dump"


@dataclass
class BackupStatus:
    """The outcome of the latest backup attempt of this app (shown on the settings page)."""

    at: datetime | None = None
    path: Path | None = None
    error: str | None = None


def last_status() -> BackupStatus:
    """The current app's latest backup attempt (``ddms.runtime``)."""
    return runtime.current().backup_status


def problem(settings: Settings) -> DDMSError | str | None:
    """Why backups cannot run here (for the settings page), or None: the last failure, or a missing tool."""
    if error := last_status().error:
        return error
    url = make_url(settings.resolved_database_url)
    if not _is_sqlite(url) and shutil.which("pg_dump") is None:
        return Unavailable("pg_tools_missing", params={"tool": "pg_dump"})
    return None


def backup_dir(settings: Settings) -> Path:
    return settings.backup_dir or settings.ddms_data_dir / "backups"


def _is_sqlite(url: URL) -> bool:
    return db.is_sqlite_url(url)


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise Invalid("backup_in_memory")
    return Path(url.database)


def _copy_sqlite(source: Path, target: Path) -> None:
    """Page-by-page copy through SQLite's online backup API (readers and writers may continue)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=1024)
    src.close()
    dst.close()


def _pg_command(tool: str, url: URL) -> tuple[list[str], dict[str, str]]:
    """The libpq connection arguments for ``tool``; the password goes through the environment, never argv."""
    path = shutil.which(tool)
    if path is None:
        raise Unavailable("pg_tools_missing", params={"tool": tool})
    args = [path, "--no-password", "--host", url.host or "localhost", "--port", str(url.port or 5432)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)  # noqa: TID251  (handed to the child process, not read as configuration)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


async def _run(args: list[str], env: dict[str, str], what: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        reason = failure_reason(stderr.decode(errors="replace"), process.returncode)
        raise Unavailable("backup_tool_failed", params={"tool": what, "reason": reason})


def failure_reason(stderr: str, returncode: int | None) -> str:
    """The cause of a failed pg_dump/pg_restore: its first error line, and the last line when that differs.

    pg_restore reports the failing statement's error first and, with --single-transaction, ends
    with "errors ignored on restore" or the rollback: the last line alone hides the cause.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return f"exit code {returncode}"
    first = next((line for line in lines if "error" in line.lower()), lines[-1])
    return first if first == lines[-1] else f"{first} (then: {lines[-1]})"


def _target(directory: Path, suffix: str) -> Path:
    stamp = utcnow().strftime("%Y%m%d_%H%M%S")
    target = directory / f"{PREFIX}{stamp}{suffix}"
    counter = 1
    while target.exists():
        target = directory / f"{PREFIX}{stamp}_{counter}{suffix}"
        counter += 1
    return target


def list_backups(settings: Settings) -> list[Path]:
    """Backup files, newest first."""
    directory = backup_dir(settings)
    if not directory.is_dir():
        return []
    files = [
        p for p in directory.iterdir() if p.name.startswith(PREFIX) and p.suffix in (SQLITE_SUFFIX, PG_SUFFIX)
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def prune(settings: Settings, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what was deleted."""
    removed = list_backups(settings)[max(keep, 1) :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


async def create_backup(settings: Settings, keep: int | None = None) -> Path:
    """Back up the configured database now; then keep only the newest ``keep`` files (if given)."""
    url = make_url(settings.resolved_database_url)
    directory = backup_dir(settings)
    try:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        if _is_sqlite(url):
            target = _target(directory, SQLITE_SUFFIX)
            partial = target.with_suffix(".partial")
            await asyncio.to_thread(_copy_sqlite, _sqlite_path(url), partial)
        else:
            target = _target(directory, PG_SUFFIX)
            partial = target.with_suffix(".partial")
            args, env = _pg_command("pg_dump", url)
            await _run(
                [*args, "--format=custom", "--no-owner", "--file", str(partial), url.database or ""],
                env,
                "pg_dump",
            )
        await asyncio.to_thread(partial.rename, target)
    except Exception as exc:
        message = exc.detail if isinstance(exc, Unavailable | Invalid) else f"{type(exc).__name__}: {exc}"
        status = last_status()
        status.at, status.error = utcnow(), message
        logger.error("backup failed: %s", message)
        raise
    if keep is not None:
        await asyncio.to_thread(prune, settings, keep)
    status = last_status()
    status.at, status.path, status.error = utcnow(), target, None
    logger.info("backup written to %s", target)
    return target


def _check_sqlite_file(path: Path) -> None:
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise Invalid("not_a_sqlite_backup", params={"path": str(path)})


async def restore_backup(settings: Settings, path: Path) -> None:
    """Replace the configured database's contents with the backup at ``path``.

    Meant for the console (``ddms restore FILE``) with the app stopped; on SQLite the backup API
    writes the pages into the live file, on PostgreSQL pg_restore drops and recreates the objects.
    """
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("backup_not_found", params={"path": str(path)})
    url = make_url(settings.resolved_database_url)
    if _is_sqlite(url):
        if path.suffix != SQLITE_SUFFIX:
            raise Invalid("backup_is_postgres")
        await asyncio.to_thread(_check_sqlite_file, path)
        await asyncio.to_thread(_copy_sqlite, path, _sqlite_path(url))
    else:
        if path.suffix != PG_SUFFIX:
            raise Invalid("backup_is_sqlite")
        args, env = _pg_command("pg_restore", url)
        restore = [
            *args,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--dbname",
            url.database or "",
            str(path),
        ]
        target = settings.resolved_database_url
        if await _holds_timescale(args, env, path):
            await _restore_timescale(target, restore, env)
        elif await db.timescale_installed(target):
            # --clean fails on the hypertable, and restoring mode would leave the restored plain
            # table registered as an empty hypertable (its rows unreachable): refuse, change nothing.
            reason = (
                "not started: the backup is of a plain PostgreSQL database and this database uses "
                "TimescaleDB; restore it into a new, empty database"
            )
            raise Unavailable("backup_tool_failed", params={"tool": "pg_restore", "reason": reason})
        else:
            await _run(restore, env, "pg_restore")
    logger.info("database restored from %s", path)


async def _holds_timescale(args: list[str], env: dict[str, str], path: Path) -> bool:
    """Whether the dump at ``path`` is of a TimescaleDB database (its table of contents has the extension)."""
    process = await asyncio.create_subprocess_exec(
        args[0], "--list", str(path), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    listing, stderr = await process.communicate()
    if process.returncode != 0:
        reason = failure_reason(stderr.decode(errors="replace"), process.returncode)
        raise Unavailable("backup_tool_failed", params={"tool": "pg_restore", "reason": reason})
    return any(
        line.split()[-1:] == ["timescaledb"] and " EXTENSION " in line
        for line in listing.decode().splitlines()
    )


async def _restore_timescale(url: str, restore: list[str], env: dict[str, str]) -> None:
    """TimescaleDB's documented procedure: timescaledb_pre_restore(), pg_restore, timescaledb_post_restore().

    Without it pg_restore --clean fails on the hypertables ("ONLY option not supported on hypertable
    operations"). The target must be able to create the extension (preloaded); post-restore runs
    even when pg_restore failed, so the database never stays in restoring mode.
    """
    blocker = await db.timescale_restore_begin(url)
    if blocker is not None:
        raise Unavailable(
            "backup_tool_failed",
            params={
                "tool": "pg_restore",
                "reason": f"the backup is of a TimescaleDB database, but {blocker}",
            },
        )
    try:
        await _run(restore, env, "pg_restore")
    finally:
        await db.timescale_restore_end(url)
