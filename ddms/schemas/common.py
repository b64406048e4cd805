"""Pieces shared by several schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from ddms.errors import InvalidValue
from ddms.models.types import utcnow

# ISO 8601 with an explicit UTC offset ("+00:00") on the wire.
UTCTimestamp = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]


class StrictInput(BaseModel):
    """Request bodies: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        """PostgreSQL cannot store NUL in text and bcrypt refuses it: reject it here, as a 422."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise InvalidValue("nul_character")
        return value


class Message(BaseModel):
    message: str


class ErrorResponse(BaseModel):
    """Every error answer of the API (CONTRACT.md): one human-readable sentence, nothing else."""

    model_config = ConfigDict(extra="forbid")

    detail: str = Field(min_length=1, description="What went wrong, for a person to read")


__all__ = ["ErrorResponse", "Message", "StrictInput", "UTCTimestamp", "utcnow"]
