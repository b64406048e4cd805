"""TimescaleDB: the rollups become DDMS's own tables (as on plain PostgreSQL), no TimescaleDB jobs

Before this version a TimescaleDB database held the rollups as continuous aggregates with refresh
policies, and a compression policy on ``readings``. TimescaleDB's background job runner fails every
job on PostgreSQL 15.19 and later, and an aggregate answers from its materialised rows below its
watermark, so late readings stayed invisible; the aggregates were also 1.5-4x slower to read than
the rollup tables. Here the aggregates and policies go, and the rollup tables, the dirty-mark
trigger and the marks of every existing minute come in their place: DDMS's scheduler rolls up,
compresses and applies retention itself (``ddms.services.timescale``). Plain PostgreSQL and SQLite
databases, and TimescaleDB databases created by 002 from this release on, already have the tables.

Revision ID: 009_timescale_rollup_tables
Revises: 007_minute_marks
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ddms.models.types import UTCDateTime

revision: str = "009_timescale_rollup_tables"
down_revision: str | None = "008_instances"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUPS = ("readings_1min", "readings_1hour", "readings_1day")

PG_DIRTY_FUNCTION = """
CREATE OR REPLACE FUNCTION ddms_mark_rollups_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- As in migration 002: DO UPDATE ... WHERE false locks the conflicting rows without new versions.
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


def _has_aggregates(bind: sa.Connection) -> bool:
    kind = bind.execute(
        sa.text(
            "SELECT relkind::text FROM pg_class WHERE relname = 'readings_1min' "
            "AND relnamespace = current_schema()::regnamespace"
        )
    ).scalar()
    return kind not in (None, "r")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _has_aggregates(bind):
        return
    op.execute("SELECT remove_compression_policy('readings', if_exists => true)")
    for name in reversed(ROLLUPS):
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")  # its refresh policy goes with it
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
    op.execute(PG_DIRTY_FUNCTION)
    op.execute("DROP TRIGGER IF EXISTS readings_rollup_dirty_trg ON readings")
    op.execute(PG_DIRTY_TRIGGER)
    op.execute(
        "INSERT INTO readings_rollup_dirty (device_id, hour_start, touched_at) "
        "SELECT DISTINCT device_id, date_bin('1 minute', \"timestamp\", TIMESTAMPTZ '1970-01-01 00:00:00+00'), "
        "now() FROM readings ON CONFLICT (device_id, hour_start) DO NOTHING"
    )


def downgrade() -> None:
    """The older DDMS reads rollup tables on a hypertable as on plain PostgreSQL: nothing to undo."""
