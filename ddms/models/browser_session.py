"""Signed-in browsers, in the database: any instance can rebuild a page session from its cookie."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from ddms.models.types import UTCDateTime, utcnow


class BrowserSession(SQLModel, table=True):
    """Who a browser (NiceGUI's signed browser id) is signed in as, and at which token version.

    NiceGUI keeps a page session's user storage in a file of the instance that served the login.
    Behind a load balancer the next page may come from another instance: it finds the browser here
    and fills its own storage (``pages.session``). ``token_version`` is re-checked against the user
    on every page, so a password change or a revocation ends the session everywhere; the row goes
    with a logout, with the user, and after the refresh token's lifetime unused.
    """

    __tablename__ = "browser_sessions"

    browser_id: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    token_version: int = Field(nullable=False)
    timezone: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
