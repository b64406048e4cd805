"""The signed-in user of a browser tab, kept in ``app.storage.user`` and re-checked on every page.

Login goes through ``ddms.services.auth`` (the REST API's service), so the rate limit, messages and
revocation rules are the same for both; a password or role change ends UI sessions too.

Several instances behind a load balancer: the sign-in is also kept in the database
(``ddms.services.browser_sessions``, keyed by NiceGUI's signed browser id), and an instance that
has no storage of a browser rebuilds it from there on the browser's next page.

Only a signed-in browser writes ``app.storage.user`` (NiceGUI keeps it in a file per browser once it
is changed). An anonymous visitor's language goes into the signed session cookie
(``app.storage.browser``), set by ``/language/{code}``: a stranger's page views leave no file.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from nicegui import app
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db, i18n, runtime
from ddms.config import Settings
from ddms.errors import Unauthorized
from ddms.models import Role, User, can_edit
from ddms.redirects import same_origin_path
from ddms.services import auth, browser_sessions, system
from pages import session_store


def configure() -> None:
    """The language route (``pages.register``)."""
    app.add_api_route("/language/{code}", set_browser_language, include_in_schema=False)


def attach(app_runtime: runtime.Runtime) -> None:
    """Make the pages' language the i18n language of ``app_runtime`` (a start-up hook of the app)."""
    app_runtime.language_resolver = browser_language


def settings() -> Settings:
    """The settings of the app these pages belong to."""
    settings = runtime.current().settings
    assert settings is not None, "the app's runtime has no settings"
    return settings


def current_time() -> datetime:
    """Now (aware UTC) for the pages' time windows: the app's clock (``Runtime.clock``)."""
    return runtime.current().clock()


def app_title() -> str:
    """The title in the system settings (seeded from APP_TITLE), from the service's in-memory copy."""
    return str(system.live_setting("app_title", settings().app_title))


async def load_app_title(force: bool = False) -> None:
    """Make sure the configuration row has been read once by this app (no query per page view).

    ``system.update_config`` refreshes the in-memory copy itself, so a change applies at once.
    """
    if not force and system.live_setting("app_title", None) is not None:
        return
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
    token_version: int = 0

    @property
    def can_edit_devices(self) -> bool:
        return can_edit(self.role)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER


def remember(user: User) -> None:
    """Sign this browser in; the account's language preference becomes the page language."""
    app.storage.user.update(
        user_id=str(user.id),
        token_version=user.token_version,
        language=user.language_preference,
    )


async def share() -> None:
    """Keep this browser's sign-in in the database (after ``remember`` and the time zone): the row is
    what every instance behind a load balancer checks (``session_of``), so that a page from any of
    them is signed in, and a logout on one ends the session on all."""
    storage = app.storage.user
    async with db.session_scope() as session:
        await browser_sessions.save(
            session=session,
            browser_id=app.storage.browser["id"],
            user_id=uuid.UUID(storage["user_id"]),
            token_version=int(storage["token_version"]),
            timezone=storage.get("timezone"),
        )


def browser_language() -> str | None:
    """The language of this browser session (the i18n resolver); None outside a page.

    A signed-in browser's choice is in its user storage, an anonymous one's in the session cookie.
    """
    try:
        return app.storage.user.get("language") or app.storage.browser.get("language")
    except RuntimeError:
        return None


def language_url(code: str, back_to: str) -> str:
    """The address that switches an anonymous browser to ``code`` and returns to ``back_to``."""
    return f"/language/{quote(code)}?next={quote(back_to)}"


def set_browser_language(request: Request, code: str, next: str = "/") -> RedirectResponse:
    """Switch the language of this browser and go back to ``next`` (a path on this site).

    A signed-in browser keeps it in its user storage; an anonymous one in the signed session cookie,
    so no server-side storage is created for it. A plain request, not a socket event, because the
    cookie can only change in an HTTP answer.
    """
    if code in i18n.LANGUAGES:
        if app.storage.user.get("user_id") is not None:
            app.storage.user["language"] = code
        else:
            request.session["language"] = code
    return RedirectResponse(same_origin_path(next), status_code=303)


def browser_timezone() -> str | None:
    """The IANA time zone the browser reported at login or on the wall display (None: UTC)."""
    try:
        return app.storage.user.get("timezone")
    except RuntimeError:
        return None


async def forget() -> None:
    """Sign this browser out, here and on every instance."""
    _forget(app.storage.user)
    async with db.session_scope() as session:
        await browser_sessions.forget(session=session, browser_id=app.storage.browser["id"])


def _forget(storage: MutableMapping[str, Any]) -> None:
    for key in ("user_id", "token_version"):
        storage.pop(key, None)


async def current_user() -> SessionUser | None:
    """The live user of this browser session, or None (never signed in, or revoked since)."""
    return await session_of(app.storage.user, app.storage.browser["id"])


async def session_of(storage: MutableMapping[str, Any], browser_id: str) -> SessionUser | None:
    """The live user of the browser session ``browser_id`` whose user storage is ``storage``, or None.

    For code that runs outside the browser's request (e.g. a bus listener's task), which must not
    read ``app.storage.user`` through the context: it would be the publisher's browser.
    """
    try:
        async with db.session_scope() as session:
            # The shared row decides (any instance may have signed this browser in or out since);
            # the storage here follows it.
            shared = await browser_sessions.find(session=session, browser_id=browser_id)
            if shared is None:
                if storage.get("user_id") is not None:  # signed out on another instance
                    _forget(storage)
                return None
            user_id, version = str(shared.user_id), shared.token_version
            if (storage.get("user_id"), storage.get("token_version")) != (user_id, version):
                storage.update(user_id=user_id, token_version=version)
                if shared.timezone and not storage.get("timezone"):
                    storage["timezone"] = shared.timezone
            user = await auth.session_user(session=session, user_id=uuid.UUID(user_id), token_version=version)
            storage.setdefault("language", user.language_preference)
    except Unauthorized:
        _forget(storage)
        async with db.session_scope() as session:
            await browser_sessions.forget(session=session, browser_id=browser_id)
        return None
    session_store.note_active(browser_id)
    return SessionUser(user.id, user.username, Role(user.role), user.language_preference, user.token_version)


_renewing: set[str] = set()


@contextmanager
def renewing_session() -> Iterator[None]:
    """Mark this browser as renewing its own session (its password change) while the block runs.

    Changing one's password revokes every session of the account, this one included, until the page
    remembers the new one: meanwhile this browser's pages must not end on the revocation.
    """
    browser_id = app.storage.browser["id"]
    _renewing.add(browser_id)
    try:
        yield
    finally:
        _renewing.discard(browser_id)


def is_renewing(browser_id: str) -> bool:
    return browser_id in _renewing
