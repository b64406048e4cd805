"""login_failures: the login throttle's failed (and in-flight) attempts, shared by every process

The throttle lived in one process's memory, so ``ddms user reset-password`` (another process) could
not clear a lock-out and a second instance would not see the first one's failures. One row per
attempt: (lower-cased username, client address, time); rows older than the window are purged.

Revision ID: 004_login_throttle
Revises: 003_display_tokens
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ddms.models.types import UTCDateTime

revision: str = "004_login_throttle"
down_revision: str | None = "003_display_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        # BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY (its 64-bit rowid).
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_login_failures_username_at", "login_failures", ["username", "at"])
    op.create_index("ix_login_failures_at", "login_failures", ["at"])


def downgrade() -> None:
    op.drop_table("login_failures")
