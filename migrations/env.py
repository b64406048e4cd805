"""Alembic environment: runs the versions over DDMS's async engine (SQLite or PostgreSQL).

Every version runs in its own transaction, its version stamp included (``transaction_per_migration``),
so a process killed in the middle of a migration leaves the database at the previous version and the
next ``ddms migrate`` simply runs that version again. PostgreSQL has transactional DDL natively;
SQLite has it too, but Python's sqlite3 module never opens a transaction before CREATE/ALTER/DROP,
so ``ddms.migrate.transactional_sqlite`` makes the migration engine emit BEGIN itself. On SQLite
foreign keys are off while migrating (a batch ALTER's DROP TABLE would otherwise cascade) and
``PRAGMA foreign_key_check`` runs before each version commits: a version that orphans rows fails.

A step that cannot run in a transaction (CREATE INDEX CONCURRENTLY, some TimescaleDB calls) goes in
``with op.get_context().autocommit_block():`` and must be idempotent (IF NOT EXISTS): the versions
before it are committed, and a kill inside it is repaired by running the version again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import ddms.models  # noqa: F401  (registers the tables for autogenerate)
from ddms.config import get_settings
from ddms.db import create_engine
from ddms.migrate import check_foreign_keys, transactional_sqlite

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


def _run(connection: Connection) -> None:
    def checked(
        ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
    ) -> None:  # inside the version's transaction, after its stamp
        check_foreign_keys(connection, step.up_revision_id or "")

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=True,
        transactional_ddl=True,  # true on SQLite too, with transactional_sqlite() below
        on_version_apply=checked,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = transactional_sqlite(create_engine(_url()))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, transaction_per_migration=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
