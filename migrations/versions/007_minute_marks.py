"""rollup dirty marks are single minutes: each hour-aligned mark becomes its hour's 60 minute marks

Migration 002 marked existing readings by whole hours, while its trigger marks minutes; a mark in
minute :00 was therefore read as its whole hour, so every hour of 1 s data was rolled up twice (the
hour from the :00 mark, then minutes :01-:59 again) and no refresh chunk could be smaller than an
hour. From here on every mark stands for one minute (``ddms.services.rollups.stale_span``); the
marks an older database still holds are widened to the minutes they stood for, so nothing stale is
lost (a minute without readings just rolls up to nothing).

Revision ID: 007_minute_marks
Revises: 006_channels
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "007_minute_marks"
down_revision: str | None = "006_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MINUTES = "WITH RECURSIVE m(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM m WHERE n < 59) "
# SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (see migration 002's trigger); "\\:" keeps text() from
# reading ":00" as a bind parameter.
SQLITE_EXPAND = (
    MINUTES + "INSERT INTO readings_rollup_dirty (device_id, hour_start) "
    "SELECT d.device_id, substr(d.hour_start, 1, 14) || printf('%02d', m.n) || '\\:00.000000' "
    "FROM readings_rollup_dirty AS d CROSS JOIN m "
    "WHERE substr(d.hour_start, 15) = '00\\:00.000000' AND m.n > 0 "
    "ON CONFLICT (device_id, hour_start) DO NOTHING"
)
PG_EXPAND = (
    MINUTES + "INSERT INTO readings_rollup_dirty (device_id, hour_start, touched_at) "
    "SELECT d.device_id, d.hour_start + m.n * INTERVAL '1 minute', now() "
    "FROM readings_rollup_dirty AS d CROSS JOIN m "
    "WHERE date_bin('1 hour', d.hour_start, TIMESTAMPTZ '1970-01-01 00:00:00+00') = d.hour_start AND m.n > 0 "
    "ON CONFLICT (device_id, hour_start) DO NOTHING"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_EXPAND)
    else:
        op.execute(SQLITE_EXPAND)


def downgrade() -> None:
    """Minute marks are valid under the older reading too (they only rebuild more): nothing to undo."""
