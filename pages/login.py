"""The login page: the same service, rate limit and messages as POST /api/auth/login."""

from __future__ import annotations

import contextlib
import logging

from nicegui import app, ui
from starlette.responses import RedirectResponse

from ddms import db
from ddms.errors import RateLimited, Unauthorized, Unavailable
from ddms.i18n import LANGUAGES, _, translate_error
from ddms.redirects import after_login
from ddms.services import auth
from pages.components.quiet import is_outage
from pages.components.retry import retrying
from pages.layout import apply_theme, login_url
from pages.session import app_title, current_user, language_url, load_app_title, remember, share
from pages.theme import testid

__all__ = ["login_page", "login_url"]

logger = logging.getLogger(__name__)


@ui.page("/login")
@retrying
async def login_page(redirect_to: str | None = None) -> RedirectResponse | None:
    if await current_user() is not None:
        return RedirectResponse(after_login(redirect_to), status_code=303)
    await load_app_title()
    apply_theme()
    ui.page_title(_("Log in") + f" · {app_title()}")
    address = ui.context.client.ip  # of the page's HTTP request: the throttle counts per address

    async def attempt() -> None:
        error.set_text("")
        button.props("loading")
        try:
            async with db.session_scope() as session:
                user = await auth.check_credentials(
                    session=session, username=username.value.strip(), password=password.value, client=address
                )
        except (Unauthorized, RateLimited, Unavailable) as exc:
            error.set_text(translate_error(exc))
            return
        except Exception as exc:
            if not is_outage(exc):
                raise
            logger.warning("login: database unavailable (%s)", type(exc).__name__)
            error.set_text(_("The database cannot be reached. Try again in a moment."))
            return
        finally:
            button.props(remove="loading")
        remember(user)
        with contextlib.suppress(TimeoutError):  # the browser's zone for dates (else UTC)
            app.storage.user["timezone"] = await ui.run_javascript(
                "Intl.DateTimeFormat().resolvedOptions().timeZone", timeout=2
            )
        await share()
        ui.navigate.to(after_login(redirect_to))

    def choose(language: str) -> None:
        ui.navigate.to(language_url(language, login_url(redirect_to) if redirect_to else "/login"))

    with ui.card().classes("absolute-center w-96 max-w-full gap-3 p-6").mark("login-card"):
        with ui.row().classes("w-full items-center justify-between"):
            ui.label(app_title()).classes("text-h5 text-weight-bold").mark("app-title")
            with ui.row().classes("gap-1"):
                for code, (name, _locale) in LANGUAGES.items():
                    ui.button(name, on_click=lambda code=code: choose(code)).props("flat dense no-caps").mark(
                        f"language-{code}"
                    )
        ui.label(_("Device Data Monitoring System")).classes("text-sm text-grey-7")
        username = ui.input(_("Username")).props("outlined autofocus").classes("w-full").mark("username")
        password = ui.input(_("Password"), password=True, password_toggle_button=True).props("outlined")
        password.classes("w-full").mark("password").on("keydown.enter", attempt)
        error = ui.label("").classes("text-negative").mark("login-error").props(testid("login-error"))
        button = (
            ui.button(_("Log in"), on_click=attempt).classes("w-full").props("size=lg").mark("login-button")
        )
    return None
