"""Start-up waits for the database instead of exiting at once.

Under docker compose, systemd or after a power cut, DDMS often starts before PostgreSQL accepts
connections. ``wait_for_database`` retries with back-off (0.5 s doubling to 5 s) for up to
``DATABASE_WAIT_SECONDS``, logging each failed attempt, and gives up with one line naming the
database. Only "cannot reach it" is retried (refused, reset, timed out, "the database system is
starting up"); a wrong password or a missing database fails at once, since waiting cannot fix it.
An embedded SQLite file is local: one attempt.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine.url import make_url

from ddms import db
from ddms.clock import LOOP_CLOCK, Clock
from ddms.errors import ConsoleError

logger = logging.getLogger(__name__)

FIRST_DELAY = 0.5
MAX_DELAY = 5.0


class DatabaseUnavailable(ConsoleError):
    """The database could not be reached within DATABASE_WAIT_SECONDS."""


async def _probe(url: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def wait_for_database(url: str, wait_seconds: float, *, clock: Clock = LOOP_CLOCK) -> int:
    """Return once ``url`` answers (the number of attempts it took); raise ``DatabaseUnavailable``
    after ``wait_seconds`` of failed attempts, or the error itself when retrying cannot help."""
    shown = make_url(url).render_as_string(hide_password=True)
    retry = not db.is_sqlite_url(url)
    deadline = clock.time() + wait_seconds
    delay = FIRST_DELAY
    attempt = 0
    while True:
        attempt += 1
        try:
            await _probe(url)
        except Exception as exc:
            if not db.is_outage(exc):
                raise
            left = deadline - clock.time()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not retry or left <= 0:
                raise DatabaseUnavailable(
                    f"database unreachable at {shown} after {attempt} attempt(s) in {wait_seconds:g} s "
                    f"(check DATABASE_URL, or raise DATABASE_WAIT_SECONDS): {reason}"
                ) from exc
            pause = min(delay, left)
            logger.warning(
                "database not reachable at %s (attempt %d: %s); next attempt in %.1f s, giving up in %.1f s",
                shown,
                attempt,
                reason,
                pause,
                left,
            )
            await clock.sleep(pause)
            delay = min(delay * 2, MAX_DELAY)
            continue
        if attempt > 1:
            logger.info("database reachable at %s (attempt %d)", shown, attempt)
        return attempt


_instance_lock: list[object] = []  # the open lock file, held until the process ends


def hold_instance_lock(url: str) -> None:
    """Refuse a second instance on one SQLite file: hold an exclusive lock on ``<file>.instance``.

    The lock is the operating system's (``flock``): it goes with the process, kill -9 included, so
    a stale file never blocks a restart. Raises ConsoleError with one line when another holds it.
    """
    import fcntl
    import os
    from pathlib import Path

    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database).with_name(Path(database).name + ".instance")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data directory: private
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConsoleError(
            f"another DDMS instance ({holder}) already runs on {database}; SQLite is single-instance "
            "(stop it, or use PostgreSQL for several instances)"
        ) from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    _instance_lock.append(handle)
