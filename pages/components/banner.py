"""The "readings are not being stored" banner of the shared frame, for every signed-in page.

It reads the writer's health (``services.system.writer_health()``: in memory, no query) once a
second and shows itself only while the writer is ``failing``, so an outage nobody sees in the
dashboard's numbers (a locked SQLite file answers reads) is said on every page: since when, and how
many readings wait on disk to be written when the database takes them again.
"""

from __future__ import annotations

from nicegui import ui

from ddms.i18n import _, format_integer, format_moment
from ddms.services import system
from pages import theme
from pages.session import browser_timezone

REFRESH_SECONDS = 1.0


class WriterBanner:
    """A red strip above the page content; hidden while readings are stored."""

    def __init__(self) -> None:
        with ui.row().classes("w-full items-center gap-2 p-2 rounded bg-negative text-white") as self.row:
            ui.icon("cloud_off")
            self.text = ui.label().props(theme.testid("writer-banner"))
        self.row.mark("writer-banner")
        self.refresh()
        ui.timer(REFRESH_SECONDS, self.refresh, immediate=False)  # immediate: answered before built

    def refresh(self) -> None:
        health = system.writer_health()
        failing = health is not None and health.writer == "failing"
        self.row.set_visibility(failing)
        if not failing or health is None:
            return
        self.text.set_text(
            _("Readings are not being stored since {when} — {count} waiting on disk").format(
                when=format_moment(health.failing_since, browser_timezone()),
                count=format_integer(health.spool_rows),
            )
            if health.spool_rows
            else _("Readings are not being stored since {when}").format(
                when=format_moment(health.failing_since, browser_timezone())
            )
        )
