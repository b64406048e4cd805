"""Translations (gettext via Babel catalogs in ``locales/``) and locale-aware formatting.

Every visible string goes through ``_()``. The language comes from a resolver the UI installs in
the app's ``Runtime`` (``set_language_resolver``: the NiceGUI pages read the signed-in browser's
``app.storage.user``), so this module stays free of web frameworks. Service errors carry a code and
params (``ddms.errors``): ``translate_error`` translates the code's template and fills it, never
parsing the English sentence.

Catalogs: ``locales/<lang>/LC_MESSAGES/messages.po`` (committed) are compiled to ``.mo`` (ignored by
git) by ``compile_catalogs()`` at start-up; see docs/i18n.md for extraction and update.
"""

from __future__ import annotations

import gettext as gettext_module
import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from ddms import runtime
from ddms.errors import MESSAGES, Coded

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
    runtime.current().language_resolver = resolver


def current_language() -> str:
    try:
        language = runtime.current().language_resolver()
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
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    if value.astimezone(zone).date() == today:
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


def _zone(tz: str | None) -> tzinfo:
    if tz:
        try:
            return babel_dates.get_timezone(tz)
        except LookupError:
            pass
    return UTC


# Request field names -> the labels forms show (also inside translated error messages).
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


def translate_error(error: Coded | str) -> str:
    """A service error in the user's language, from its code and params (a plain string is shown as is).

    Params named ``field`` or ``*_field`` are request field names: they are shown as the form's label.
    Several problems reported together (``ddms.errors.Problems``) are joined with '; '.
    """
    if isinstance(error, str):
        return error
    problems = getattr(error, "errors", [error])
    if len(problems) > 1:
        return "; ".join(translate_error(problem) for problem in problems)
    values = {
        key: gettext(FIELD_LABELS[value]) if _is_field(key) and value in FIELD_LABELS else value
        for key, value in error.params.items()
    }
    return gettext(MESSAGES[error.code]).format(**values)


def _is_field(key: str) -> bool:
    return key == "field" or key.endswith("_field")
