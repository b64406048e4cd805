"""Display-token bodies: what the owner sends to create a screen link and what the API answers.

The secret appears in exactly one answer, the creation's (``DisplayTokenIssued``); lists never carry it.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from ddms.schemas.common import StrictInput, UTCTimestamp

DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class DisplayTokenCreate(StrictInput):
    name: DisplayName
    group_id: uuid.UUID | None = None


class DisplayTokenPublic(BaseModel):
    """A display link as listed: name, scope (a group or every device), created and last used."""

    id: uuid.UUID
    name: str
    group_id: uuid.UUID | None
    group_name: str | None
    path: str
    created_at: UTCTimestamp
    last_used_at: UTCTimestamp | None


class DisplayTokenIssued(DisplayTokenPublic):
    """The creation's answer: the secret and the full link to open on the screen, shown this once."""

    token: str
    url: str
