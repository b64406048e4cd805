"""The signed-in start page (the full dashboard arrives with the UI issue)."""

from __future__ import annotations

from nicegui import ui

from pages.login import login_url
from pages.session import current_user, forget, settings


@ui.page("/")
async def home_page() -> None:
    user = await current_user()
    if user is None:
        ui.navigate.to(login_url("/"))
        return
    ui.page_title(settings().app_title)

    def logout() -> None:
        forget()
        ui.navigate.to("/login")

    with ui.header().classes("items-center justify-between"):
        ui.label(settings().app_title).classes("text-h6")
        with ui.row().classes("items-center"):
            ui.label(f"{user.username} ({user.role.value})").mark("current-user")
            ui.button("Log out", on_click=logout).props("flat color=white")
    ui.label(f"Welcome, {user.username}").classes("text-h5").mark("welcome")
