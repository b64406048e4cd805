"""browser_sessions: signed-in browsers, so that any instance can rebuild a page session

Behind a load balancer a reload may reach another instance than the one that served the login;
NiceGUI's user storage is a file of the first. The row (browser id -> user and token version) lets
the other instance sign the browser in again (``pages.session``), re-checked on every page.

Revision ID: 010_browser_sessions
Revises: 009_timescale_rollup_tables
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ddms.models.types import UTCDateTime

revision: str = "010_browser_sessions"
down_revision: str | None = "009_timescale_rollup_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("browser_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("used_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_browser_sessions_user_id", "browser_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_browser_sessions_user_id", table_name="browser_sessions")
    op.drop_table("browser_sessions")
