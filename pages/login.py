"""The login page: the same service, rate limit and messages as POST /api/auth/login."""

from __future__ import annotations

from urllib.parse import quote

from nicegui import ui

from ddms import db
from ddms.errors import RateLimited, Unauthorized
from ddms.services import auth
from pages.session import remember, settings


def _safe_target(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def login_url(target: str) -> str:
    return f"/login?redirect_to={quote(target)}"


@ui.page("/login")
async def login_page(redirect_to: str | None = None) -> None:
    ui.page_title(f"Log in · {settings().app_title}")

    async def attempt() -> None:
        error.set_text("")
        button.props("loading")
        try:
            async with db.session_scope() as session:
                user = await auth.check_credentials(
                    session=session, username=username.value.strip(), password=password.value
                )
        except (Unauthorized, RateLimited) as exc:
            error.set_text(exc.detail)
            return
        finally:
            button.props(remove="loading")
        remember(user)
        ui.navigate.to(_safe_target(redirect_to))

    with ui.card().classes("absolute-center w-80 gap-3").mark("login-card"):
        ui.label(settings().app_title).classes("text-h5 text-weight-bold")
        username = ui.input("Username").props("outlined autofocus").classes("w-full").mark("username")
        password = ui.input("Password", password=True, password_toggle_button=True).props("outlined")
        password.classes("w-full").mark("password").on("keydown.enter", attempt)
        error = ui.label("").classes("text-negative").mark("login-error")
        button = ui.button("Log in", on_click=attempt).classes("w-full").mark("login-button")
