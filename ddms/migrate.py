"""Run the Alembic migrations shipped in the ``migrations`` package against a database URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations

HEAD = "head"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged versions and at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = HEAD) -> None:
    """Upgrade in the calling thread (Alembic's env runs its own event loop)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = HEAD) -> None:
    """Upgrade from async code: the migration runs in a worker thread with its own loop."""
    await asyncio.to_thread(upgrade_sync, url, revision)
