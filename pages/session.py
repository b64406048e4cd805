"""The signed-in user of a browser tab, kept in ``app.storage.user`` and re-checked on every page.

Login goes through ``ddms.services.auth`` (the REST API's service), so the rate limit, messages and
revocation rules are the same for both; a password or role change ends UI sessions too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from nicegui import app

from ddms import db, i18n
from ddms.config import Settings
from ddms.errors import Unauthorized
from ddms.models import Role, User, utcnow
from ddms.services import auth, system

_settings: Settings | None = None
_now: Callable[[], datetime] = utcnow


def configure(settings: Settings, now: Callable[[], datetime] = utcnow) -> None:
    global _settings, _title_loaded, _now
    _settings = settings
    _now = now
    _title_loaded = False
    i18n.set_language_resolver(browser_language)


def settings() -> Settings:
    assert _settings is not None, "pages.register() was not called"
    return _settings


_title_loaded = False


def current_time() -> datetime:
    """Now (aware UTC) for the pages' time windows: the clock ``pages.register`` was given."""
    return _now()


def app_title() -> str:
    """The title in the system settings (seeded from APP_TITLE), from the service's in-memory copy."""
    return str(system.live_setting("app_title", settings().app_title))


async def load_app_title(force: bool = False) -> None:
    """Make sure the configuration row has been read once in this process (no query per page view).

    ``system.update_config`` refreshes the in-memory copy itself, so a change applies at once.
    """
    global _title_loaded
    if _title_loaded and not force:
        return
    _title_loaded = True
    async with db.session_scope() as session:
        await system.get_config(
            session=session,
            defaults={"app_title": settings().app_title, "sse_interval": settings().sse_interval},
        )


@dataclass(frozen=True, slots=True)
class SessionUser:
    id: uuid.UUID
    username: str
    role: Role
    language: str

    @property
    def can_edit_devices(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER


def remember(user: User) -> None:
    """Sign this browser in; the account's language preference becomes the page language."""
    app.storage.user.update(
        user_id=str(user.id), token_version=user.token_version, language=user.language_preference,
    )


def browser_language() -> str | None:
    """The language of this browser session (the i18n resolver); None outside a page."""
    try:
        return app.storage.user.get("language")
    except RuntimeError:
        return None


def browser_timezone() -> str | None:
    """The IANA time zone the browser reported at login or on the wall display (None: UTC)."""
    try:
        return app.storage.user.get("timezone")
    except RuntimeError:
        return None


def forget() -> None:
    for key in ("user_id", "token_version"):
        app.storage.user.pop(key, None)


async def current_user() -> SessionUser | None:
    """The live user of this browser session, or None (never signed in, or revoked since)."""
    user_id, version = app.storage.user.get("user_id"), app.storage.user.get("token_version")
    if user_id is None or version is None:
        return None
    try:
        async with db.session_scope() as session:
            user = await auth.session_user(session=session, user_id=uuid.UUID(user_id), token_version=version)
    except Unauthorized:
        forget()
        return None
    return SessionUser(user.id, user.username, Role(user.role), user.language_preference)
