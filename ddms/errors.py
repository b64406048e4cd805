"""Domain errors raised by services; the API maps them to HTTP and pages show them to the user.

An error is data, not a sentence: a ``code`` (a key of ``MESSAGES``), the ``field`` of the request it is
about (or None) and the ``params`` its message is filled with. ``detail`` is the English sentence the
REST contract answers with (``{"detail": ...}``); pages translate from ``code`` and ``params``
(``ddms.i18n.translate_error``) and put the message next to ``field``, so rewording a message here
changes neither where it is shown nor how it is translated (the zh catalog has every template).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def N_(message: str) -> str:
    """Mark a template for extraction (babel ``-k N_``); translated later, from the code."""
    return message


# code -> English template. ``{…_field}`` and ``{field}`` placeholders are request field names,
# shown as the form's label in the pages (``ddms.i18n.FIELD_LABELS``).
MESSAGES: dict[str, str] = {
    # sign-in, tokens, permissions
    "invalid_login": N_("Invalid username or password"),
    "login_locked": N_("Too many failed login attempts. Try again in {minutes} minutes."),
    "server_busy": N_("The server is busy checking other logins. Try again in a few seconds."),
    "wrong_password": N_("Current password is incorrect"),
    "password_unchanged": N_("The new password must differ from the current one"),
    "password_too_short": N_("Password must be at least {count} characters"),
    "password_too_long": N_("Password must be at most {count} bytes"),
    "session_ended": N_("Session has ended, please log in again"),
    "not_authenticated": N_("Not authenticated"),
    "bad_credentials": N_("Could not validate credentials"),
    "wrong_token_type": N_("Invalid token type"),
    "token_expired": N_("Token has expired"),
    "token_revoked": N_("Token has been revoked"),
    "refresh_invalid": N_("Invalid refresh token"),
    "refresh_expired": N_("Refresh token has expired"),
    "refresh_revoked": N_("Refresh token has been revoked"),
    "refresh_reused": N_("Refresh token has already been used; all sessions of this login were revoked"),
    "refresh_missing": N_("No refresh token presented"),
    "roles_required": N_("Access forbidden. Required roles: {roles}"),
    "forbidden": N_("You do not have permission to do this"),
    # accounts
    "user_not_found": N_("User not found"),
    "no_such_username": N_("No user named '{name}'"),
    "username_taken": N_("Username '{name}' is already taken"),
    "role_not_assignable": N_("Only admin or read_only accounts can be created"),
    "owner_role_fixed": N_("The owner's role cannot be changed"),
    "single_owner": N_("There is exactly one owner; no account can be promoted to owner"),
    "owner_undeletable": N_("The owner account cannot be deleted"),
    # devices
    "device_not_found": N_("Device not found"),
    "device_name_taken": N_("A device named '{name}' already exists"),
    "invalid_status": N_(
        "Invalid status '{value}'. Use one of: online, offline, error (or connected, disconnected)"
    ),
    "data_type_required": N_("{type_field} is required when {count_field} is not 1 or 2"),
    "register_count_mismatch": N_(
        "{count_field} {count} does not match {type_field} {data_type} ({width} register(s))"
    ),
    "threshold_order_strict": N_("{low_field} ({low}) must be below {high_field} ({high})"),
    "threshold_order": N_("{low_field} ({low}) must be at most {high_field} ({high})"),
    "not_null": N_("{field} cannot be null"),
    "invalid_host": N_("must be an IPv4/IPv6 address or a host name"),
    "nul_character": N_("must not contain NUL characters"),
    "invalid_cron": N_("must be a cron expression with five fields, e.g. '0 2 * * *'"),
    # groups and display links
    "group_not_found": N_("Group not found"),
    "group_name_taken": N_("A group named '{name}' already exists"),
    "unknown_devices": N_("Unknown device id(s): {ids}"),
    "unknown_group": N_("Unknown group id: {id}"),
    "display_name_taken": N_("A display link named '{name}' already exists"),
    "display_not_found": N_("Display link not found"),
    "display_invalid": N_("This display link is not valid (it may have been revoked)"),
    "display_other_group": N_("This display link is for another display"),
    # readings and export
    "no_readings": N_("No readings for this device"),
    "not_a_time": N_("{field} is not an ISO 8601 date/time: '{value}'"),
    "time_out_of_range": N_("{field} must be between 1970-01-01T00:00:00Z and 9999-12-30T23:59:59Z"),
    "end_before_start": N_("end_time must not be before start_time"),
    "bad_paging": N_("limit must be at least 1 and offset between 0 and {max_offset}"),
    "bad_aggregate": N_("aggregate must be one of: {choices}"),
    "bad_timezone": N_("tz is not a known IANA time zone (such as Europe/Berlin): '{value}'"),
    "bad_max_points": N_("max_points must be at least 1"),
    "device_ids_required": N_("device_ids is required: a comma-separated list of device ids"),
    "device_ids_malformed": N_("device_ids must be comma-separated device UUIDs"),
    "unknown_device": N_("Unknown device id: {id}"),
    # backups
    "backup_in_memory": N_("An in-memory SQLite database cannot be backed up"),
    "pg_tools_missing": N_(
        "{tool} was not found on PATH: install the PostgreSQL client tools (same major version as the "
        "server) to enable backups"
    ),
    "backup_tool_failed": N_("{tool} failed: {reason}"),
    "not_a_sqlite_backup": N_("{path} is not a SQLite backup"),
    "backup_not_found": N_("Backup file not found: {path}"),
    "alarm_not_found": N_("Alarm not found"),
    "channel_not_found": N_("Notification channel not found"),
    "channel_name_taken": N_("A notification channel named '{name}' already exists"),
    "channel_type_fixed": N_("type cannot be changed; create a new channel instead"),
    "channel_fields_unused": N_("{fields}: not used by {type} channels"),
    "channel_fields_required": N_("{fields}: required for {type} channels"),
    "smtp_password_needs_username": N_("smtp_password needs an smtp_username"),
    "url_control_characters": N_("must not contain spaces or control characters"),
    "url_invalid": N_("must be a valid http(s) URL"),
    "url_scheme": N_("must be an http:// or https:// URL"),
    "url_credentials": N_("must not contain credentials; use the secret to authenticate"),
    "email_invalid": N_("must be an e-mail address like name@example.com"),
    "notification_not_found": N_("Notification not found"),
    "display_not_for_notifications": N_("A display link cannot open a user's notifications"),
    "one_of": N_("{name} must be one of: {choices}"),
    "page_bounds": N_("limit must be 1-{max} and offset at least 0"),
    "backup_is_postgres": N_("This is a PostgreSQL backup; the configured database is SQLite"),
    "backup_is_sqlite": N_("This is a SQLite backup; the configured database is PostgreSQL"),
}


def render(code: str, params: Mapping[str, Any]) -> str:
    """The English sentence of ``code`` filled with ``params`` (KeyError for an unknown code)."""
    return MESSAGES[code].format(**params)


class Coded:
    """What every coded error carries: ``code``, ``field``, ``params`` and the English ``detail``."""

    code: str
    field: str | None
    params: dict[str, Any]
    detail: str

    def _set(self, code: str, field: str | None, params: Mapping[str, Any] | None) -> str:
        self.code, self.field, self.params = code, field, dict(params or {})
        self.detail = render(code, self.params)
        return self.detail


class DDMSError(Coded, Exception):
    """Base of every error a user may see; ``str(error)`` is the English ``detail``."""

    def __init__(
        self, code: str, *, field: str | None = None, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(self._set(code, field, params))

    @property
    def errors(self) -> list[DDMSError]:
        """Every problem this error reports, each with its own code and field (one, except ``Problems``)."""
        return [self]


class ConsoleError(DDMSError):
    """A problem of the console or of start-up (schema, unreachable database), told in one English line.

    It never reaches an API answer or a page, so it carries its sentence instead of a translated code.
    """

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.code, self.field, self.params, self.detail = "console", None, {}, message


class InvalidValue(Coded, ValueError):
    """A rule broken inside a pydantic validator (pydantic wraps only ValueError); pages read its code."""

    def __init__(self, code: str, *, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(self._set(code, None, params))


class NotFound(DDMSError):
    """The named thing does not exist (404)."""


class Conflict(DDMSError):
    """The change collides with existing data, e.g. a duplicate name (409)."""


class Forbidden(DDMSError):
    """The user's role does not allow this (403)."""


class Invalid(DDMSError):
    """The input breaks a rule (400)."""


class Problems(Invalid):
    """Several rules broken by one request, reported together so a form shows each at its field.

    It is the first problem (its code, field and params) to whoever reads one error; ``errors`` lists
    them all and ``detail`` joins their sentences with '; ' (the REST answer names every one).
    """

    def __init__(self, problems: Sequence[DDMSError]) -> None:
        first = problems[0]
        super().__init__(first.code, field=first.field, params=first.params)
        self._problems = list(problems)
        self.detail = "; ".join(problem.detail for problem in self._problems)
        self.args = (self.detail,)

    @property
    def errors(self) -> list[DDMSError]:
        return list(self._problems)


def raise_all(problems: Sequence[DDMSError]) -> None:
    """Raise nothing for no problem, the problem itself for one, ``Problems`` for several."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise Problems(problems)


class Unauthorized(DDMSError):
    """Missing, wrong, expired or revoked credentials (401)."""


class RateLimited(DDMSError):
    """Too many attempts; try again later (429)."""

    def __init__(self, code: str, *, retry_after: int, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(code, params=params)
        self.retry_after = retry_after


class Unavailable(DDMSError):
    """A dependency (the database, a device) cannot be reached right now (503)."""


class Overloaded(Unavailable):
    """Too much of one costly kind of work at once (password checks); retry shortly (503 + Retry-After)."""

    def __init__(self, code: str, *, retry_after: int) -> None:
        super().__init__(code)
        self.retry_after = retry_after
