"""Pieces shared by several schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

from ddms.models.types import utcnow

# ISO 8601 with an explicit UTC offset ("+00:00") on the wire.
UTCTimestamp = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]


class StrictInput(BaseModel):
    """Request bodies: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Message(BaseModel):
    message: str


__all__ = ["Message", "StrictInput", "UTCTimestamp", "utcnow"]
