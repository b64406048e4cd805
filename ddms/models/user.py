"""Accounts, the refresh tokens that keep their sessions, and the failed logins that throttle them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from ddms.models.types import UTCDateTime, utcnow


class Role(StrEnum):
    """owner > admin > read_only."""

    OWNER = "owner"
    ADMIN = "admin"
    READ_ONLY = "read_only"


# The one statement of who may do what, used by the API's role checks, the services and the pages.
EDITOR_ROLES: tuple[Role, ...] = (Role.OWNER, Role.ADMIN)  # may change devices, groups and display links
ASSIGNABLE_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.READ_ONLY)  # an account may be given (never owner)


def can_edit(role: str) -> bool:
    """Whether ``role`` may change devices, groups and display links (owner and admin)."""
    return role in EDITOR_ROLES


class Language(StrEnum):
    EN = "en"
    ZH = "zh"


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_username", "username", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(sa_column=Column(String(50), nullable=False))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    language_preference: str = Field(default="en", sa_column=Column(String(5), nullable=False))
    token_version: int = Field(default=0, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RefreshToken(SQLModel, table=True):
    """One issued refresh token (its ``jti``); rotation chains tokens of one login into a family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_user_id", "user_id"),
        Index("ix_refresh_tokens_family_id", "family_id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    family_id: uuid.UUID = Field(nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class LoginFailure(SQLModel, table=True):
    """One failed login attempt, or one being checked right now (see ddms/services/login_throttle.py).

    Kept in the database, not in memory, so that ``ddms user reset-password`` (another process) can
    clear a lock-out and so that several instances on one PostgreSQL share one throttle. Rows older
    than the throttle window mean nothing and are purged by the retention job.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_at", "at"),
    )

    # BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY (its 64-bit rowid).
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    )
    username: str = Field(sa_column=Column(String(200), nullable=False))  # folded to lower case
    client: str = Field(sa_column=Column(String(64), nullable=False))  # the client's address
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
