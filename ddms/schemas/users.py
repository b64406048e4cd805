"""Users and authentication bodies."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ddms.schemas.common import StrictInput, UTCTimestamp

Username = Annotated[str, StringConstraints(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_]+$")]
LanguageCode = Literal["en", "zh"]
# "owner" parses so that the service can refuse it with the contract's 403 (not a 422).
AnyRole = Literal["owner", "admin", "read_only"]
# Length rules (8 characters, 72 bytes) are checked by ddms.security so every caller gets them.
Password = Annotated[str, StringConstraints(max_length=1024)]


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    role: str
    language_preference: str
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class UserCreate(StrictInput):
    username: Username
    password: Password
    role: AnyRole = "read_only"
    language_preference: LanguageCode = "en"


class UserUpdate(StrictInput):
    """Owner's edit of another account: role, password reset, language."""

    role: AnyRole | None = None
    password: Password | None = None
    language_preference: LanguageCode | None = None


class ProfileUpdate(StrictInput):
    username: Username | None = None
    language_preference: LanguageCode | None = None


class LoginRequest(StrictInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    username: Annotated[str, StringConstraints(max_length=200)]
    password: Password


class LoginUser(BaseModel):
    user_id: uuid.UUID
    id: uuid.UUID
    username: str
    role: str
    language_preference: str


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    refresh_token: str


class LoginResponse(TokenPair):
    user: LoginUser


class RefreshRequest(StrictInput):
    refresh_token: str | None = Field(default=None, max_length=4096)


class PasswordChange(StrictInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    old_password: Password
    new_password: Password
