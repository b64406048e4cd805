"""notification channels (webhook, e-mail) and the durable outbox of their deliveries

A delivery row is written when an alarm transition arrives and kept until it is delivered or, after
24 hours of retries, marked failed; a restart resumes the pending ones. The channel's secrets are
stored readable (they sign and log in) and are never returned by the API.

Revision ID: 006_channels
Revises: 005_alarms
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ddms.models.types import UTCDateTime

revision: str = "006_channels"
down_revision: str | None = "005_alarms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("min_severity", sa.String(10), nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("secret", sa.String(500), nullable=True),
        sa.Column("smtp_host", sa.String(255), nullable=True),
        sa.Column("smtp_port", sa.Integer(), nullable=True),
        sa.Column("smtp_tls", sa.String(10), nullable=True),
        sa.Column("smtp_username", sa.String(255), nullable=True),
        sa.Column("smtp_password", sa.String(500), nullable=True),
        sa.Column("email_from", sa.String(320), nullable=True),
        sa.Column("email_to", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("last_delivered_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_notification_channels_name", "notification_channels", ["name"], unique=True)
    op.create_table(
        "channel_deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "channel_id",
            sa.Uuid(),
            sa.ForeignKey("notification_channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_channel_deliveries_channel_state_due",
        "channel_deliveries",
        ["channel_id", "state", "next_attempt_at"],
    )
    op.create_index("ix_channel_deliveries_state_created", "channel_deliveries", ["state", "created_at"])


def downgrade() -> None:
    op.drop_table("channel_deliveries")
    op.drop_index("ix_notification_channels_name", table_name="notification_channels")
    op.drop_table("notification_channels")
