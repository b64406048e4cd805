"""Domain errors raised by services; the API maps them to HTTP and pages show them to the user."""

from __future__ import annotations


class DDMSError(Exception):
    """Base of every error a user may see; ``str(error)`` is the human-readable detail."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DDMSError):
    """The named thing does not exist (404)."""


class Conflict(DDMSError):
    """The change collides with existing data, e.g. a duplicate name (409)."""


class Forbidden(DDMSError):
    """The user's role does not allow this (403)."""


class Invalid(DDMSError):
    """The input breaks a rule (400)."""


class Unauthorized(DDMSError):
    """Missing, wrong, expired or revoked credentials (401)."""


class RateLimited(DDMSError):
    """Too many attempts; try again later (429)."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(DDMSError):
    """A dependency (the database, a device) cannot be reached right now (503)."""


class Overloaded(Unavailable):
    """Too much of one costly kind of work at once (password checks); retry shortly (503 + Retry-After)."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
