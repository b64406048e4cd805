"""The shared frame every signed-in page opens: header, navigation, language, dark mode, user menu."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from html import escape
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary, WeakSet

from nicegui import Client, app, background_tasks, context, ui
from nicegui.events import ClickEventArguments
from starlette.responses import RedirectResponse

from ddms import db
from ddms.bus import Revocation, get_bus
from ddms.errors import ConsoleError, DDMSError, Forbidden, Unauthorized
from ddms.i18n import LANGUAGES, N_, _, translate_error
from ddms.schemas.users import LanguageCode, ProfileUpdate
from ddms.services import users
from pages import theme
from pages.components.quiet import Quiet, is_building, is_outage
from pages.session import (
    SessionUser,
    app_title,
    current_user,
    forget,
    is_renewing,
    load_app_title,
    session_of,
)

logger = logging.getLogger(__name__)

CHARTS_KEY = "ddms_charts"  # app.storage.client: this page draws ECharts
SESSION_RECHECK_SECONDS = 60.0  # an open page re-checks its session at least this often

NAV = [  # (path, icon, label, who may see it)
    ("/", "dashboard", N_("Dashboard"), "any"),
    ("/alarms", "notifications_active", N_("Alarms"), "any"),
    ("/devices", "sensors", N_("Devices"), "any"),
    ("/groups", "workspaces", N_("Groups"), "any"),
    ("/compare", "stacked_line_chart", N_("Compare"), "any"),
    ("/users", "group", N_("Users"), "admin"),
    ("/settings", "settings", N_("Settings"), "owner"),
    ("/display", "tv", N_("Wall display"), "any"),
]


def login_url(target: str) -> str:
    return f"/login?redirect_to={quote(target)}"


def to_login(path: str) -> RedirectResponse:
    """Where an unauthenticated visitor goes: the login page, then back to ``path``."""
    return RedirectResponse(login_url(path), status_code=303)


_themed: WeakSet[Client] = WeakSet()
_guarded: WeakSet[Client] = WeakSet()
_outage_noticed: WeakKeyDictionary[Client, float] = WeakKeyDictionary()
OUTAGE_NOTICE_SECONDS = 10.0


def apply_theme() -> None:
    """Colours, CSS and dark mode (saved per browser) for the current page.

    The CSS and script go into the page once: a page built again in the same tab (after its error
    state, ``pages.components.retry``) must not add them twice.
    """
    client = context.client
    ui.colors(
        primary=theme.PRIMARY,
        positive=theme.LEVEL_COLOURS["normal"],
        warning=theme.LEVEL_COLOURS["warning"],
        negative=theme.LEVEL_COLOURS["critical"],
    )
    if client not in _themed:
        _themed.add(client)
        ui.add_css(theme.CSS)
        ui.add_body_html(theme.CONNECTION_JS)
    # One way (storage to page): a page view must not write the storage (no file per anonymous visitor).
    ui.dark_mode().bind_value_from(app.storage.user, "dark_mode")


def connection_indicator() -> None:
    """The websocket state (kept by ``theme.CONNECTION_JS``); its words are escaped into the markup."""
    on, off = escape(_("Connected"), quote=True), escape(_("Disconnected"), quote=True)
    html = (  # on a phone only the dot: the words would push the header onto a second row
        f'<span class="ddms-conn" data-testid="connection" data-on="{on}" data-off="{off}">'
        f'<span class="ddms-conn-text">{on}</span></span>'
    )
    ui.html(html, sanitize=False).mark("connection")


async def choose_language(user: SessionUser | None, language: LanguageCode) -> None:
    """Switching language saves it on the account (applied at the next login too) and reloads."""
    app.storage.user["language"] = language
    if user is not None:
        try:
            async with db.session_scope() as session:
                account = await users.get_user(session=session, user_id=user.id)
                await users.update_profile(
                    session=session, user=account, data=ProfileUpdate(language_preference=language)
                )
        except DDMSError as exc:
            ui.notify(translate_error(exc), type="negative")
    ui.navigate.reload()


def language_switch(user: SessionUser | None, classes: str = "") -> None:
    current = app.storage.user.get("language", "en")
    with (
        ui.button(icon="translate", text=LANGUAGES.get(current, LANGUAGES["en"])[0])
        .props("flat color=white no-caps")
        .classes(classes)
        .mark("language"),
        ui.menu(),
    ):
        for code, (name, _locale) in LANGUAGES.items():
            ui.menu_item(name, on_click=lambda code=code: choose_language(user, code)).mark(
                f"language-{code}"
            )


def toggle_dark_mode() -> None:
    """Flip this browser's mode. ECharts takes its theme only when a chart is made, so a page with
    charts is reloaded to draw them in the new mode (the rest follows the body class at once)."""
    app.storage.user["dark_mode"] = not app.storage.user.get("dark_mode", False)
    if app.storage.client.get(CHARTS_KEY):
        ui.navigate.reload()


def chart_theme() -> dict[str, Any]:
    """The ECharts theme (``ui.echart(theme=...)``) for this browser's mode; see ``toggle_dark_mode``."""
    app.storage.client[CHARTS_KEY] = True
    return theme.chart_theme(bool(app.storage.user.get("dark_mode", False)))


def dark_mode_toggle(classes: str = "") -> None:
    ui.button(icon="contrast", on_click=toggle_dark_mode).props("flat round color=white").classes(
        classes
    ).tooltip(_("Dark mode")).mark("dark-mode")


def phone_settings(user: SessionUser) -> None:
    """In the drawer on a phone: what the header has no room for there (language, dark mode)."""
    with ui.column().classes("lt-sm w-full gap-0"):
        ui.separator()
        for code, (name, _locale) in LANGUAGES.items():
            with ui.item(on_click=lambda code=code: choose_language(user, code)).mark(
                f"drawer-language-{code}"
            ):
                with ui.item_section().props("avatar"):
                    ui.icon("translate")
                ui.item_section(name)
        with ui.item(on_click=toggle_dark_mode).mark("drawer-dark-mode"):
            with ui.item_section().props("avatar"):
                ui.icon("contrast")
            ui.item_section(_("Dark mode"))


def user_menu(user: SessionUser) -> None:
    async def logout() -> None:
        await forget()
        ui.navigate.to("/login")

    with ui.button(icon="account_circle").props("flat color=white no-caps").mark("user-menu"):
        ui.label(user.username).classes("gt-xs q-ml-sm ellipsis").style("max-width: 10rem")
        menu = ui.menu()
    with menu:
        ui.menu_item(_("Profile"), on_click=lambda: ui.navigate.to("/profile"))
        ui.menu_item(_("Change password"), on_click=lambda: ui.navigate.to("/profile#password"))
        ui.separator()
        ui.menu_item(_("Log out"), on_click=logout).mark("logout")


def _visible(who: str, user: SessionUser) -> bool:
    return who == "any" or (who == "admin" and user.can_edit_devices) or (who == "owner" and user.is_owner)


@contextmanager
def frame(title: str, user: SessionUser) -> Iterator[ui.column]:
    """Header, navigation drawer and a content column; every signed-in page is built inside it."""
    from pages.components.alarm_bell import AlarmBell  # they use this module's helpers
    from pages.components.banner import WriterBanner
    from pages.components.notification_drawer import NotificationDrawer

    apply_theme()
    if context.client not in _guarded:  # once: a page rebuilt after its error state calls frame again
        _guarded.add(context.client)
        context.client.on_exception(action_failed)
    site = app_title()
    ui.page_title(f"{title} · {site}")
    storage = app.storage.user
    notes = NotificationDrawer(user, storage)
    drawer: ui.left_drawer  # built below; the menu button toggles it
    # One row at any width (390 px phones included): the title shrinks with an ellipsis, and on a
    # phone the language and dark-mode buttons move into the drawer.
    with (
        ui.header()
        .classes("items-center no-wrap gap-1 sm:gap-2 px-2 sm:px-3 py-1")
        .style(f"background: {theme.HEADER}")
        .mark("header")
        .props(theme.testid("header"))
    ):
        menu = ui.button(icon="menu", on_click=lambda: drawer.toggle()).props("flat round color=white")
        menu.mark("menu").props(theme.testid("menu"))
        menu.props["aria-label"] = _("Menu")  # set as a value, never parsed from a props string
        ui.link(site, "/").classes("ddms-header-title text-h6 text-white no-underline font-bold").mark(
            "app-title"
        )
        ui.label(title).classes("ddms-header-title text-subtitle1 text-grey-4 gt-sm")
        ui.space()
        AlarmBell(f"{title} · {site}", storage, notes.toggle)
        connection_indicator()
        language_switch(user, "gt-xs")
        dark_mode_toggle("gt-xs")
        user_menu(user)
    with (
        ui.left_drawer(value=None).props("bordered width=220 breakpoint=1024").mark("drawer") as drawer,
        ui.list().classes("w-full"),
    ):
        for path, icon, label, who in NAV:
            if _visible(who, user):
                with ui.item(on_click=lambda path=path: ui.navigate.to(path)).mark(f"nav-{path}"):
                    with ui.item_section().props("avatar"):
                        ui.icon(icon)
                    ui.item_section(_(label))
        phone_settings(user)
    with ui.column().classes("ddms-page p-4 gap-4") as content:
        WriterBanner()
        ui.label(title).classes("text-h5 font-bold").mark("page-title").props(theme.testid("page-title"))
        watch_session(user)
        yield content


def watch_session(user: SessionUser) -> None:
    """End this page when its session ends, so no live value reaches a revoked account.

    At once when ``ddms.services.users`` reports the account revoked on the bus (deleted, role or
    password changed), and at least every ``SESSION_RECHECK_SECONDS`` for what the bus cannot see
    (another process, e.g. ``ddms user reset-password``). The bus listener runs in the publisher's
    context, so the check uses this browser's storage captured now, not ``app.storage.user``.
    """
    client = context.client
    storage, browser_id = app.storage.user, app.storage.browser["id"]
    back_to = client.request.url.path + (f"?{client.request.url.query}" if client.request.url.query else "")

    failures = Quiet(f"session re-check of {back_to}")

    async def check() -> None:
        if await session_of(storage, browser_id) is None:
            end_page(client, back_to)

    async def recheck() -> None:
        """While the database is away the page stays (nothing can be revoked meanwhile), quietly."""
        if client.id not in Client.instances or is_renewing(browser_id):
            return
        await failures.run(check)

    def on_revoked(revocation: Revocation) -> None:
        if revocation.user_id == user.id:
            background_tasks.create(recheck(), name=f"session check {client.id}")

    client.on_delete(get_bus().on_revocation(on_revoked))
    ui.timer(SESSION_RECHECK_SECONDS, recheck, immediate=False)


def end_page(client: Client, back_to: str) -> None:
    """Send the browser to the login page and drop the page's content (with its live timers) now:
    a tab that ignored the navigation gets nothing more."""
    with client:
        ui.navigate.to(login_url(back_to))
    client.content.clear()


async def require_user(path: str) -> SessionUser | RedirectResponse:
    """The signed-in user, or the redirect to the login page that brings the visitor back to ``path``."""
    user = await current_user()
    if user is None:
        return to_login(path)
    await load_app_title()
    return user


async def acting_user(allowed: Callable[[SessionUser], bool] = lambda _user: True) -> SessionUser:
    """The user behind an action, re-read from the database: hiding a button is not a permission check.

    A session that ended meanwhile (password or role changed, account deleted) goes to the login page.
    """
    user = await current_user()
    if user is None:
        ui.navigate.to("/login")
        raise Unauthorized("session_ended")
    if not allowed(user):
        raise Forbidden("forbidden")
    return user


def can_edit(user: SessionUser) -> bool:
    return user.can_edit_devices


def is_owner(user: SessionUser) -> bool:
    return user.is_owner


def forbidden(user: SessionUser, title: str) -> None:
    """What a user without the role sees instead of the page."""
    with frame(title, user):
        ui.label(_("You do not have permission to see this page.")).classes("text-negative").mark("forbidden")


def busy(handler: Callable[[], Awaitable[None]]) -> Callable[[ClickEventArguments], Awaitable[None]]:
    """A click handler that shows the clicked button's spinner while ``handler`` runs."""

    async def run(event: ClickEventArguments) -> None:
        event.sender.props("loading")
        try:
            await handler()
        finally:
            event.sender.props(remove="loading")

    return run


def notify_error(exc: DDMSError) -> None:
    ui.notify(translate_error(exc), type="negative", multi_line=True)


def notify_failure(exc: Exception) -> None:
    """A reload the user asked for (a time range, a filter) that failed: a service's reason or, while
    the database is away, that it is away (logged as a warning); any other error is raised on. So is
    an outage while the page is being built: the whole page then shows its error state and retries."""
    if isinstance(exc, DDMSError) and not isinstance(exc, ConsoleError):
        notify_error(exc)
    elif is_outage(exc) and not is_building(context.client):
        logger.warning("page reload: database unavailable (%s)", type(exc).__name__)
        ui.notify(_("The database cannot be reached. Try again in a moment."), type="warning")
    else:
        raise exc


def action_failed(exc: Exception) -> None:
    """A click or change whose handler raised (``client.on_exception``, set up by ``frame``): the user
    is told, in their language, instead of nothing happening. A service's refusal says why; an outage
    says the database is away (the click changed nothing: its transaction never committed); anything
    else is a defect, which NiceGUI's own handler logs with its traceback."""
    if isinstance(exc, DDMSError) and not isinstance(exc, ConsoleError):
        notify_error(exc)
    elif is_outage(exc):  # a page's timer may fail every second: one notice per client now and then
        client, now = context.client, time.monotonic()
        if now - _outage_noticed.get(client, -math.inf) >= OUTAGE_NOTICE_SECONDS:
            _outage_noticed[client] = now
            ui.notify(_("The database cannot be reached. Try again in a moment."), type="warning")
    else:
        ui.notify(_("That did not work. The details are in the server log."), type="negative")


class OutageRecords(logging.Filter):
    """NiceGUI logs every exception of a handler or timer with its traceback at ERROR. While the
    database is away that is one traceback per click and per timer tick, for what is no defect:
    such a record becomes one WARNING line naming the exception (``action_failed`` tells the user)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_outage(exc):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "page action: database unavailable (%s)", (type(exc).__name__,)
            record.exc_info, record.exc_text = None, None
        return True


def notify_done(message: str) -> None:
    ui.notify(message, type="positive")
