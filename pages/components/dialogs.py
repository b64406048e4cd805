"""The delete confirmation every list uses: question, optional choices, Cancel / Delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from ddms.errors import DDMSError
from ddms.i18n import _
from pages.layout import busy, notify_done, notify_error


def confirm_delete(
    question: str,
    delete: Callable[[], Awaitable[None]],
    deleted: str,
    after: Callable[[], object],
    choices: Callable[[], None] | None = None,
) -> None:
    """Ask ``question``; on Delete run ``delete`` (which re-checks the role and calls the service).

    A refused or failed delete keeps the dialog open and shows the service's reason; a done one
    closes it, shows ``deleted`` and calls ``after`` (refresh the list, or leave the page).
    """
    with ui.dialog() as dialog, ui.card().mark("delete-dialog"):
        ui.label(question).classes("text-h6")
        if choices is not None:
            choices()

        async def confirm() -> None:
            try:
                await delete()
            except DDMSError as exc:
                notify_error(exc)
                return
            dialog.close()
            notify_done(deleted)
            after()

        with ui.row().classes("w-full justify-end"):
            ui.button(_("Cancel"), on_click=dialog.close).props("flat")
            ui.button(_("Delete"), color="negative", on_click=busy(confirm)).mark("confirm-delete")
    dialog.open()
