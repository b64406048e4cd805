"""The configuration singleton and the health check."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import __version__, runtime
from ddms.errors import Invalid
from ddms.models import SINGLETON_ID, Configuration, utcnow
from ddms.schemas.system import ConfigUpdate, Health, WriterHealth

logger = logging.getLogger(__name__)


# The configuration as last read or written (``Runtime.live_config``), for hot paths (the SSE feed)
# that must not query the database per tick. Updated by every get_config/update_config of this app.
def live_setting(name: str, default: Any) -> Any:
    """The current value of a configuration field, or ``default`` before the row was first read."""
    return runtime.current().live_config.get(name, default)


def _remember(config: Configuration) -> Configuration:
    runtime.current().live_config.update(config.model_dump(exclude={"id", "updated_at"}))
    return config


async def get_config(*, session: AsyncSession, defaults: dict[str, Any] | None = None) -> Configuration:
    """The one configuration row, created on first use from ``defaults`` (the environment's values).

    After that the row wins: the owner edits it in the settings page or through PUT /api/config.
    """
    config = await session.get(Configuration, SINGLETON_ID, populate_existing=True)
    if config is None:
        config = Configuration(id=SINGLETON_ID, **(defaults or {}))
        session.add(config)
        await session.commit()
    return _remember(config)


async def update_config(*, session: AsyncSession, data: ConfigUpdate) -> Configuration:
    config = await get_config(session=session)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise Invalid("not_null", field=key, params={"field": key})
        setattr(config, key, value)
    config.updated_at = utcnow()
    session.add(config)
    await session.commit()
    return _remember(config)


_WRITER_ORDER = ("ok", "degraded", "failing")


def writer_health() -> WriterHealth | None:
    """The worst writer of this app's collectors (one in practice); None without a collector.

    A ``SELECT 1`` answers while every write fails (a locked SQLite file, a full disk), so whether
    readings are stored is what the writer saw, not what a probe query sees.
    """
    reports: list[WriterHealth] = [
        c.writer.health() for c in runtime.current().collectors if hasattr(c, "writer")
    ]
    if not reports:
        return None
    return max(reports, key=lambda report: _WRITER_ORDER.index(report.writer))


async def health(*, session: AsyncSession) -> Health:
    """healthy when a trivial query answers and readings are being stored (the caller maps to 503)."""
    try:
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        database = "ok"
    except Exception as exc:
        logger.warning("health check: database unavailable: %s", type(exc).__name__)
        database = "unavailable"
    writer = writer_health()
    storing = writer is None or writer.writer != "failing"
    status = "healthy" if database == "ok" and storing else "unhealthy"
    if writer is None:
        return Health(status=status, database=database, version=__version__)
    return Health(
        status=status,
        database=database,
        version=__version__,
        writer=writer.writer,
        spool_rows=writer.spool_rows,
        oldest_unwritten_seconds=writer.oldest_unwritten_seconds,
        last_write_at=writer.last_write_at,
        failing_since=writer.failing_since,
        dropped=writer.dropped,
    )
