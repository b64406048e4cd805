"""rollups readings_1min / readings_1hour / readings_1day (tables; on TimescaleDB readings becomes a hypertable)

The migration detects the backend itself:

* PostgreSQL that can create the ``timescaledb`` extension (``TIMESCALEDB``, ``ddms.db.use_timescale``):
  ``readings`` becomes a hypertable (1-day chunks, compression segmented by device_id; DDMS's
  scheduler compresses chunks and applies retention itself, TimescaleDB's job runner is not used).
  Before migration 009 the rollups were continuous aggregates here; 009 turns those into the tables.
* Everywhere (SQLite, PostgreSQL, TimescaleDB): three tables of the same names and columns, plus
  ``readings_rollup_dirty`` filled by a trigger on ``readings`` so that the application can roll up
  exactly the minutes that received data, late readings included (see ddms/services/rollups.py);
  existing readings are marked by whole hours.

Revision ID: 002_add_continuous_aggregates
Revises: 001_initial_schema
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ddms import db
from ddms.migrate import timescale_mode
from ddms.models.types import UTCDateTime

revision: str = "002_add_continuous_aggregates"
down_revision: str | None = "001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUPS = {"readings_1min": "1 minute", "readings_1hour": "1 hour", "readings_1day": "1 day"}
PG_DIRTY_FUNCTION = """
CREATE OR REPLACE FUNCTION ddms_mark_rollups_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- DO UPDATE (not DO NOTHING) takes a row lock until this writer commits, so a concurrent
    -- rollup run that deletes the dirty row waits and then sees these readings. "WHERE false":
    -- PostgreSQL locks every conflicting row of DO UPDATE even when its WHERE is false, so the
    -- lock is taken without writing a new row version per batch (no bloat on busy hours).
    INSERT INTO readings_rollup_dirty (device_id, hour_start, touched_at)
    SELECT DISTINCT device_id, date_bin('1 minute', "timestamp", TIMESTAMPTZ '1970-01-01 00:00:00+00'), now()
    FROM new_rows
    ORDER BY 1, 2
    ON CONFLICT (device_id, hour_start) DO UPDATE SET touched_at = EXCLUDED.touched_at WHERE false;
    RETURN NULL;
END $$
"""
PG_DIRTY_TRIGGER = """
CREATE TRIGGER readings_rollup_dirty_trg AFTER INSERT ON readings
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ddms_mark_rollups_dirty()
"""
# SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff"; the minute is cut from the text (strftime would round
# 05:59:59.9999 up to 06:00).
SQLITE_DIRTY_TRIGGER = """
CREATE TRIGGER readings_rollup_dirty_trg AFTER INSERT ON readings
BEGIN
    INSERT INTO readings_rollup_dirty (device_id, hour_start)
    VALUES (NEW.device_id, substr(NEW."timestamp", 1, 17) || '00.000000')
    ON CONFLICT (device_id, hour_start) DO NOTHING;
END
"""


def _upgrade_timescale() -> None:
    """``readings`` becomes a hypertable with compression enabled; DDMS compresses the chunks itself."""
    op.execute(
        "SELECT create_hypertable('readings', 'timestamp', chunk_time_interval => INTERVAL '1 day', "
        "migrate_data => true, if_not_exists => true)"
    )
    op.execute(
        "ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id', "
        "timescaledb.compress_orderby = 'timestamp DESC')"
    )


def _upgrade_tables(dialect: str) -> None:
    for name in ROLLUPS:
        op.create_table(
            name,
            sa.Column(
                "device_id", sa.Uuid(), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
            ),
            sa.Column("time_bucket", UTCDateTime(), nullable=False),
            sa.Column("avg", sa.Float(), nullable=False),
            sa.Column("min", sa.Float(), nullable=False),
            sa.Column("max", sa.Float(), nullable=False),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("device_id", "time_bucket", name=f"pk_{name}"),
        )
    if dialect == "postgresql":
        op.execute(PG_DIRTY_FUNCTION)
        op.execute(PG_DIRTY_TRIGGER)
        op.execute(
            "INSERT INTO readings_rollup_dirty (device_id, hour_start, touched_at) "
            "SELECT DISTINCT device_id, date_bin('1 hour', \"timestamp\", TIMESTAMPTZ '1970-01-01 00:00:00+00'), "
            "now() FROM readings"
        )
    else:
        op.execute(SQLITE_DIRTY_TRIGGER)
        op.execute(
            "INSERT INTO readings_rollup_dirty (device_id, hour_start) "
            "SELECT DISTINCT device_id, substr(\"timestamp\", 1, 13) || ':00:00.000000' FROM readings"
        )


def _create_dirty_table() -> None:
    """Created on every backend (unused on TimescaleDB) so that the ORM metadata matches everywhere."""
    op.create_table(
        "readings_rollup_dirty",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("hour_start", UTCDateTime(), nullable=False),
        sa.Column("touched_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("device_id", "hour_start", name="pk_readings_rollup_dirty"),
    )


def upgrade() -> None:
    bind = op.get_bind()
    _create_dirty_table()
    if db.use_timescale(bind, timescale_mode(op.get_context().config)):
        _upgrade_timescale()
    _upgrade_tables(bind.dialect.name)


def downgrade() -> None:
    bind = op.get_bind()
    is_cagg = bind.dialect.name == "postgresql" and bind.execute(
        sa.text(
            "SELECT relkind::text FROM pg_class WHERE relname = 'readings_1min' AND relnamespace = current_schema()::regnamespace"
        )
    ).scalar() not in (None, "r")
    if is_cagg:
        for name in reversed(ROLLUPS):
            op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")
        op.drop_table("readings_rollup_dirty")
        return
    op.execute(
        "DROP TRIGGER IF EXISTS readings_rollup_dirty_trg"
        + (" ON readings" if bind.dialect.name == "postgresql" else "")
    )
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ddms_mark_rollups_dirty()")
    op.drop_table("readings_rollup_dirty")
    for name in reversed(ROLLUPS):
        op.drop_table(name)
