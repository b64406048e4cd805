"""initial schema: users, refresh tokens, devices, readings, groups, membership, configuration

Written by hand so it runs unchanged on SQLite and PostgreSQL 15.

Revision ID: 001_initial_schema
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ddms.models.types import UTCDateTime

revision: str = "001_initial_schema"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("username", sa.String(50), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("language_preference", sa.String(5), nullable=False, server_default="en"),
        sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"),
        *_stamps(),
    )
    op.create_index("ix_users_username", "users", ["username"], unique=True)

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])

    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("modbus_ip", sa.String(255), nullable=False),
        sa.Column("modbus_port", sa.Integer(), nullable=False, server_default="502"),
        sa.Column("modbus_slave_id", sa.Integer(), nullable=False),
        sa.Column("modbus_register", sa.Integer(), nullable=False),
        sa.Column("modbus_register_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("unit", sa.String(20), nullable=False, server_default=""),
        sa.Column("sampling_interval", sa.Integer(), nullable=False, server_default="10"),
        sa.Column("threshold_warning_lower", sa.Float(), nullable=True),
        sa.Column("threshold_warning_upper", sa.Float(), nullable=True),
        sa.Column("threshold_critical_lower", sa.Float(), nullable=True),
        sa.Column("threshold_critical_upper", sa.Float(), nullable=True),
        sa.Column("hysteresis", sa.Float(), nullable=False, server_default="0"),
        sa.Column("retention_days", sa.Integer(), nullable=False, server_default="90"),
        sa.Column("data_type", sa.String(10), nullable=False, server_default="uint16"),
        sa.Column("byte_order", sa.String(4), nullable=False, server_default="ABCD"),
        sa.Column("scale", sa.Float(), nullable=False, server_default="1"),
        sa.Column("offset", sa.Float(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(10), nullable=False, server_default="offline"),
        sa.Column("last_reading_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        *_stamps(),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_devices_name",
        "devices",
        ["name"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "readings",
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("device_id", sa.Uuid(), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("timestamp", "device_id", name="pk_readings"),
    )
    op.create_index("idx_readings_device_timestamp", "readings", ["device_id", "timestamp"])

    op.create_table(
        "groups",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        *_stamps(),
    )
    op.create_index("ix_groups_name", "groups", ["name"], unique=True)

    op.create_table(
        "device_groups",
        sa.Column("group_id", sa.Uuid(), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("device_id", sa.Uuid(), sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_device_groups_device_id", "device_groups", ["device_id"])

    op.create_table(
        "configuration",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("backup_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("backup_schedule", sa.String(100), nullable=False, server_default="0 2 * * *"),
        sa.Column("backup_retention_count", sa.Integer(), nullable=False, server_default="7"),
        sa.Column("default_retention_days", sa.Integer(), nullable=False, server_default="90"),
        sa.Column("sse_interval", sa.Float(), nullable=False, server_default="5"),
        sa.Column("app_title", sa.String(100), nullable=False, server_default="DDMS"),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_configuration_singleton"),
    )


def downgrade() -> None:
    for table in (
        "configuration",
        "device_groups",
        "groups",
        "readings",
        "devices",
        "refresh_tokens",
        "users",
    ):
        op.drop_table(table)
