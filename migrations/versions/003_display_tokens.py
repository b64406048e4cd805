"""display tokens: named links for wall screens when PUBLIC_STREAM is false

Written by hand so it runs unchanged on SQLite and PostgreSQL 15. The secret itself is never stored,
only its SHA-256 (a 64-character hex digest).

Revision ID: 003_display_tokens
Revises: 002_add_continuous_aggregates
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ddms.models.types import UTCDateTime

revision: str = "003_display_tokens"
down_revision: str | None = "002_add_continuous_aggregates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "display_tokens",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("group_id", sa.Uuid(), sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_display_tokens_token_hash", "display_tokens", ["token_hash"], unique=True)
    op.create_index("ix_display_tokens_name", "display_tokens", ["name"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_display_tokens_name", table_name="display_tokens")
    op.drop_index("ix_display_tokens_token_hash", table_name="display_tokens")
    op.drop_table("display_tokens")
