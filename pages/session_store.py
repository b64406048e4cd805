"""Where NiceGUI keeps signed-in browser sessions, and how stale ones are removed.

NiceGUI's ``app.storage.user`` lives in memory for every request and is written to a file
(``storage-user-<session id>.json``) only when a page changes it. Pages write it only for a signed-in
browser (``pages.session.remember``); anonymous preferences (the language on /login and /display)
go into the signed session cookie instead (``pages.session.set_browser_language``), so a stranger's
page view leaves no file.

The files are kept in the data directory (``<DDMS_DATA_DIR>/ui-sessions``, 0700) rather than in the
working directory. A session not used for longer than the refresh token's lifetime is deleted by
``SessionSweeper``, a background service started by the composition root: it runs the directory scan
in a worker thread (never on the event loop), first refreshing the files of the sessions seen since
the last sweep so that an active one never looks stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nicegui.storage import Storage

from ddms import db
from ddms.config import Settings
from ddms.services import browser_sessions

logger = logging.getLogger(__name__)

DIRECTORY_NAME = "ui-sessions"
PREFIX, SUFFIXES = "storage-user-", (".json", ".json.tmp")
SWEEP_INTERVAL = 3600.0

_seen: set[str] = set()


def session_directory(settings: Settings) -> Path:
    return (settings.ddms_data_dir / DIRECTORY_NAME).resolve()


def use_session_directory(settings: Settings) -> Path:
    """Point NiceGUI's file storage at the data directory (its public ``Storage.path`` setting).

    Set before the first user storage is created; NiceGUI's own test fixtures set it the same way.
    """
    directory = session_directory(settings)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    Storage.path = directory
    return directory


def note_active(session_id: str) -> None:
    """Remember that this browser session was used (called when a signed-in page checks its user)."""
    _seen.add(session_id)


def _session_id(name: str) -> str | None:
    for suffix in SUFFIXES:
        if name.startswith(PREFIX) and name.endswith(suffix):
            return name[len(PREFIX) : -len(suffix)]
    return None


def sweep(directory: Path, *, now: float, max_age: float, active: Collection[str]) -> int:
    """Delete the session files unused for more than ``max_age`` seconds; returns how many went.

    A file of an ``active`` session gets its modification time set to ``now`` instead. Blocking file
    I/O: run it in a worker thread.
    """
    removed = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            session_id = _session_id(entry.name)
            if session_id is None:
                continue
            try:
                if session_id in active:
                    os.utime(entry.path, (now, now))
                elif now - entry.stat().st_mtime > max_age:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:  # NiceGUI removed or replaced it meanwhile
                continue
    return removed


class SessionSweeper:
    """Background service: ``sweep`` the session directory every ``interval`` seconds."""

    def __init__(
        self, settings: Settings, *, interval: float = SWEEP_INTERVAL, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = session_directory(settings)
        self.max_age = settings.refresh_token_expire_days * 86400.0
        self.interval = interval
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def sweep_once(self) -> int:
        """The files here, then the shared rows (``browser_sessions``): the ones used since the last
        sweep are marked used, the others expire after the same lifetime as the files."""
        active = set(_seen)
        _seen.difference_update(active)
        now = self.clock()
        removed = await asyncio.to_thread(sweep, self.directory, now=now, max_age=self.max_age, active=active)
        moment = datetime.fromtimestamp(now, UTC)
        async with db.session_scope() as session:
            await browser_sessions.mark_used(session=session, browser_ids=active, now=moment)
            removed += await browser_sessions.purge(
                session=session, max_age=timedelta(seconds=self.max_age), now=moment
            )
        if removed:
            logger.info("removed %d stale browser session(s)", removed)
        return removed

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except OSError:
                logger.exception("could not clean the browser sessions in %s", self.directory)
            except Exception as exc:
                if not db.is_outage(exc):
                    raise
                logger.warning("browser sessions not cleaned: database unavailable")
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="browser session sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
