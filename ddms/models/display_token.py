"""Display tokens: the owner's links for keyboardless wall screens when PUBLIC_STREAM is false."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from ddms.models.types import UTCDateTime, utcnow


class DisplayToken(SQLModel, table=True):
    """One named screen link. Only the SHA-256 of the secret is kept: the secret is shown once.

    ``group_id`` binds the link to one group's wall display (None: every device). Deleting the group
    deletes its links, so a bound link can never widen to all devices.
    """

    __tablename__ = "display_tokens"
    __table_args__ = (
        Index("ix_display_tokens_token_hash", "token_hash", unique=True),
        Index("ix_display_tokens_name", "name", unique=True),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    group_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("groups.id", ondelete="CASCADE"), nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
