"""The history jobs of the running app: rollup refresh, retention, and backups on the cron schedule.

A ``Service`` (see ddms/main.py): ``start()`` launches three asyncio tasks and returns at once;
``stop()`` cancels them. Every job awaits the database (and runs file copies, pg_dump and CSV work
off the loop), so none of them blocks requests. A failing run is logged and retried next period.
With several instances on one PostgreSQL only the leader (``services.cluster``) runs them; the
others skip each period until they lead.
The backup schedule and retention count are re-read from the configuration row every minute, so a
change on the settings page applies without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from croniter import croniter

from ddms import db
from ddms.config import Settings
from ddms.models import utcnow
from ddms.services import auth, backup, cluster, retention, rollups, system, timescale, tokens

logger = logging.getLogger(__name__)

CONFIG_POLL_SECONDS = 60.0


def next_run(schedule: str, after: datetime) -> datetime:
    """The next time the cron ``schedule`` fires after ``after`` (UTC)."""
    moment: datetime = croniter(schedule, after).get_next(datetime)
    return moment


class HistoryScheduler:
    """Runs the periodic history jobs while the app is up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self.settings.history_jobs_enabled:
            return
        self._tasks = [
            asyncio.create_task(
                self._every(self.settings.rollup_interval, self.refresh_rollups), name="ddms-rollups"
            ),
            asyncio.create_task(
                self._every(self.settings.retention_interval, self.apply_retention), name="ddms-retention"
            ),
            asyncio.create_task(self._backups(), name="ddms-backups"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def refresh_rollups(self) -> None:
        async with db.session_scope() as session:
            await rollups.refresh(session)

    async def apply_retention(self) -> None:
        """Readings past each device's retention, old alarm history and notifications, expired refresh
        tokens, stale login failures; on TimescaleDB then the chunks past the compression age."""
        await retention.apply_retention()
        await timescale.compress_chunks()
        await retention.apply_alarm_retention(
            alarm_days=self.settings.alarm_retention_days,
            notification_days=self.settings.notification_retention_days,
        )
        async with db.session_scope() as session:
            purged = await tokens.purge_expired(session=session)
            await auth.throttle().purge(session=session)
        if purged:
            logger.info("purged %d expired refresh token(s)", purged)

    async def _every(self, interval: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await self._guarded(job)
            await asyncio.sleep(interval)

    async def _guarded(self, job: Callable[[], Awaitable[None]]) -> None:
        if not cluster.leading():  # several instances: the leader runs it (services.cluster)
            return
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if db.is_outage(exc):
                logger.warning("%s skipped: database unavailable", getattr(job, "__name__", "job"))
            else:
                logger.exception("%s failed", getattr(job, "__name__", "job"))

    async def _backups(self) -> None:
        schedule, due = "", None
        while True:
            try:
                async with db.session_scope() as session:
                    config = await system.get_config(session=session)
                enabled, keep = config.backup_enabled, config.backup_retention_count
                if config.backup_schedule != schedule:
                    schedule, due = config.backup_schedule, next_run(config.backup_schedule, utcnow())
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("backup schedule unavailable; retrying in %.0f s", CONFIG_POLL_SECONDS)
                await asyncio.sleep(CONFIG_POLL_SECONDS)
                continue
            now = utcnow()
            if due is not None and now >= due:
                if enabled:
                    await self._guarded(functools.partial(self._backup, keep))
                due = next_run(schedule, now)
            wait = (
                CONFIG_POLL_SECONDS if due is None else min(CONFIG_POLL_SECONDS, (due - now).total_seconds())
            )
            await asyncio.sleep(max(wait, 0.05))

    async def _backup(self, keep: int) -> None:
        await backup.create_backup(self.settings, keep=keep)
