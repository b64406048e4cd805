"""Translations (gettext via Babel catalogs in ``locales/``) and locale-aware formatting.

Every visible string goes through ``_()``. The language comes from a resolver the UI installs
(``set_language_resolver``: the NiceGUI pages read the signed-in browser's ``app.storage.user``), so
this module stays free of web frameworks. Service errors are English sentences built with f-strings;
``translate_detail`` maps them back onto their templates (listed in ``ERROR_TEMPLATES``, which the
extractor picks up through ``N_``) and translates them with their values kept.

Catalogs: ``locales/<lang>/LC_MESSAGES/messages.po`` (committed) are compiled to ``.mo`` (ignored by
git) by ``compile_catalogs()`` at start-up; see docs/i18n.md for extraction and update.
"""

from __future__ import annotations

import gettext as gettext_module
import io
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timezone
from functools import cache
from pathlib import Path

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

logger = logging.getLogger(__name__)

DOMAIN = "messages"


def _find_locales() -> Path:
    """``locales/`` beside the package (a checkout or editable install), else in the working
    directory (the Docker image installs the wheel and keeps ``/app/locales``)."""
    candidates = [Path(__file__).resolve().parent.parent / "locales", Path.cwd() / "locales"]
    return next((path for path in candidates if path.is_dir()), candidates[0])


LOCALES_DIR = _find_locales()
DEFAULT_LANGUAGE = "en"
# Language code on the account -> (name shown in the switch, Babel locale for dates and numbers).
LANGUAGES: dict[str, tuple[str, str]] = {"en": ("English", "en_US"), "zh": ("中文", "zh_Hans_CN")}

_resolver: Callable[[], str | None] = lambda: None  # noqa: E731


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now."""
    return message


def compile_catalogs(directory: Path = LOCALES_DIR) -> list[Path]:
    """Compile every ``messages.po`` whose ``.mo`` is missing or older; returns the files written.

    Called at start-up so a fresh checkout or image needs no separate build step. A read-only
    install is fine: ``translations()`` then compiles in memory.
    """
    written: list[Path] = []
    catalogs = sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    if not catalogs:
        logger.warning("no translation catalogs in %s: every page will be in English", directory)
    for po_path in catalogs:
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        try:
            mo_path.write_bytes(_compiled(po_path))
        except OSError as exc:
            logger.warning("cannot write %s (%s); translations compile in memory", mo_path, exc)
            continue
        written.append(mo_path)
    translations.cache_clear()
    for language in LANGUAGES:  # load now, at start-up: the first page view must not read files
        translations(language)
    return written


def _compiled(po_path: Path) -> bytes:
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=po_path.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The catalog of ``language`` (English needs none: the source strings are English)."""
    po_path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo_path = po_path.with_suffix(".mo")
    if mo_path.exists() and (not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime):
        with mo_path.open("rb") as handle:
            return gettext_module.GNUTranslations(handle)
    if po_path.exists():
        return gettext_module.GNUTranslations(io.BytesIO(_compiled(po_path)))
    return gettext_module.NullTranslations()


def set_language_resolver(resolver: Callable[[], str | None]) -> None:
    """Install the function that tells which language the current request or page uses."""
    global _resolver
    _resolver = resolver


def current_language() -> str:
    try:
        language = _resolver()
    except Exception:  # no page context (start-up, background task): fall back to the default
        language = None
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def gettext(message: str, language: str | None = None) -> str:
    return translations(language or current_language()).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, count: int, language: str | None = None) -> str:
    return translations(language or current_language()).ngettext(singular, plural, count)


def babel_locale(language: str | None = None) -> Locale:
    return Locale.parse(LANGUAGES[language or current_language()][1])


def format_datetime(value: datetime | None, tz: str | None = None, fmt: str = "medium") -> str:
    """A timestamp in the user's language and time zone (UTC when none is known); '—' for None."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return babel_dates.format_datetime(value, fmt, tzinfo=_zone(tz), locale=babel_locale())


def format_time(value: datetime | None, tz: str | None = None) -> str:
    if value is None:
        return "—"
    return babel_dates.format_time(value, "medium", tzinfo=_zone(tz), locale=babel_locale())


def format_moment(value: datetime | None, tz: str | None = None, now: datetime | None = None) -> str:
    """The time alone when ``value`` is today in that zone, else a short date and time."""
    if value is None:
        return "—"
    zone = _zone(tz)
    today = (now or datetime.now(UTC)).astimezone(zone).date()  # type: ignore[arg-type]
    if value.astimezone(zone).date() == today:  # type: ignore[arg-type]
        return format_time(value, tz)
    return format_datetime(value, tz, "short")


def format_number(value: float | None, digits: int = 2) -> str:
    """A reading with up to ``digits`` decimals and the locale's separators; '—' for None."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return babel_numbers.format_decimal(value, format=pattern, locale=babel_locale())


def format_integer(value: int) -> str:
    return babel_numbers.format_decimal(value, format="#,##0", locale=babel_locale())


def _zone(tz: str | None) -> timezone | object:
    if tz:
        try:
            return babel_dates.get_timezone(tz)
        except LookupError:
            pass
    return UTC


# Sentences the services raise (ddms.errors.*.detail), as templates; {names} are the variable parts.
ERROR_TEMPLATES: list[str] = [
    N_("Invalid username or password"),
    N_("Too many failed login attempts. Try again in {minutes} minutes."),
    N_("The server is busy checking other logins. Try again in a few seconds."),
    N_("Current password is incorrect"),
    N_("The new password must differ from the current one"),
    N_("Session has ended, please log in again"),
    N_("Password must be at least {count} characters"),
    N_("Password must be at most {count} bytes"),
    N_("Device not found"),
    N_("Group not found"),
    N_("User not found"),
    N_("A device named '{name}' already exists"),
    N_("A group named '{name}' already exists"),
    N_("Username '{name}' is already taken"),
    N_("Username is already taken"),
    N_("Only admin or read_only accounts can be created"),
    N_("The owner's role cannot be changed"),
    N_("There is exactly one owner; no account can be promoted to owner"),
    N_("The owner account cannot be deleted"),
    N_("data_type is required when modbus_register_count is not 1 or 2"),
    N_("modbus_register_count {count} does not match data_type {data_type} ({width} register)"),
    N_("modbus_register_count {count} does not match data_type {data_type} ({width} registers)"),
    N_("{low_name} ({low}) must be below {high_name} ({high})"),
    N_("{low_name} ({low}) must be at most {high_name} ({high})"),
    N_("{field} cannot be null"),
    N_("Unknown device id(s): {ids}"),
    N_("Unknown group id: {id}"),
    N_("must be an IPv4/IPv6 address or a host name"),
    N_("must be a cron expression with five fields, e.g. '0 2 * * *'"),
    N_("You do not have permission to do this"),
    N_("A display link named '{name}' already exists"),
    N_("Display link not found"),
    N_("This display link is not valid (it may have been revoked)"),
    N_("This display link is for another display"),
    N_(
        "{tool} was not found on PATH: install the PostgreSQL client tools (same major version as the "
        "server) to enable backups"
    ),
    N_("A notification channel named '{name}' already exists"),
    N_("Notification channel not found"),
    N_("must be an http:// or https:// URL"),
    N_("must be a valid http(s) URL"),
    N_("must not contain spaces or control characters"),
    N_("must not contain credentials; use the secret to authenticate"),
    N_("must be an e-mail address like name@example.com"),
    N_("{fields}: required for {type} channels"),
    N_("{fields}: not used by {type} channels"),
    N_("type cannot be changed; create a new channel instead"),
    N_("smtp_password needs an smtp_username"),
]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
    return re.compile(f"^{regex}$")


_PATTERNS = [(_pattern(template), template) for template in ERROR_TEMPLATES]

# Field names as the services' messages say them -> the labels forms show (also used inside messages).
FIELD_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "description": N_("Description"),
    "unit": N_("Unit"),
    "modbus_ip": N_("IP address or host"),
    "modbus_port": N_("Port"),
    "modbus_slave_id": N_("Slave ID"),
    "modbus_register": N_("Register"),
    "modbus_register_count": N_("Register count"),
    "data_type": N_("Data type"),
    "byte_order": N_("Byte order"),
    "scale": N_("Scale"),
    "offset": N_("Offset"),
    "sampling_interval": N_("Sampling interval (s)"),
    "threshold_critical_lower": N_("Critical low"),
    "threshold_warning_lower": N_("Warning low"),
    "threshold_warning_upper": N_("Warning high"),
    "threshold_critical_upper": N_("Critical high"),
    "hysteresis": N_("Hysteresis"),
    "retention_days": N_("Retention (days)"),
    "app_title": N_("Application title"),
    "backup_enabled": N_("Automatic backups"),
    "backup_schedule": N_("Backup schedule (cron)"),
    "backup_retention_count": N_("Backups kept"),
    "default_retention_days": N_("Default retention of new devices (days)"),
    "sse_interval": N_("Live stream interval (s)"),
}
_field_labels = FIELD_LABELS


def translate_detail(detail: str) -> str:
    """A service error in the user's language (unknown sentences are shown as they are)."""
    for pattern, template in _PATTERNS:
        match = pattern.match(detail)
        if match:
            values = {
                key: gettext(_field_labels[value]) if value in _field_labels else value
                for key, value in match.groupdict().items()
            }
            return gettext(template).format(**values)
    return gettext(detail)
