"""instances: the DDMS processes sharing one PostgreSQL database (membership for device ownership)

Each running instance keeps a row here while it runs (heartbeat every fraction of a second) and
holds a session advisory lock keyed by ``backend_pid``, the PostgreSQL backend of its dedicated
coordination connection: a row whose lock is not held is a dead instance, whatever its heartbeat
says (see ``ddms.services.cluster``). SQLite gets the table too (one schema), but never uses it.

Revision ID: 008_instances
Revises: 007_minute_marks
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ddms.models.types import UTCDateTime

revision: str = "008_instances"
down_revision: str | None = "007_minute_marks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("backend_pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("instances")
