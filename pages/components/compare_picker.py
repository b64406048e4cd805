"""Picking devices to compare in one chart (``/compare``), from the dashboard or the device list.

Anyone who may see the devices may compare them: nothing is saved, the choice lives in the URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from nicegui import ui

from ddms.i18n import _

MAX_COMPARED = 12  # lines one chart can show readably; more is a group's wall display


def compare_url(device_ids: Iterable[uuid.UUID | str], query: dict[str, str] | None = None) -> str:
    ids = ",".join(str(device_id) for device_id in device_ids)
    return "/compare?" + urlencode({"devices": ids} | (query or {})) if ids else "/compare"


def device_select(options: dict[str, str], chosen: list[str], on_change: Any = None) -> ui.select:
    """A searchable multiple choice of devices (``{id: name}``), at most ``MAX_COMPARED``."""
    select = (
        ui.select(
            options,
            value=[device_id for device_id in chosen if device_id in options],
            multiple=True,
            with_input=True,
            label=_("Devices to compare"),
            on_change=on_change,
        )
        .props("outlined dense use-chips clearable")
        .classes("min-w-[18rem] grow")
        .mark("compare-devices")
    )
    select.props["max-values"] = MAX_COMPARED  # Quasar stops adding chips there
    return select


def compare_dialog(options: dict[str, str], shown: Callable[[], list[uuid.UUID]]) -> None:
    """The dialog: the devices now shown are preselected when they are few enough to compare."""
    visible = [str(device_id) for device_id in shown()]
    chosen = visible if 2 <= len(visible) <= MAX_COMPARED else []
    with ui.dialog() as dialog, ui.card().classes("w-[36rem] max-w-full").mark("compare-dialog"):
        ui.label(_("Compare devices in one chart")).classes("text-h6")
        ui.label(
            _("One line per device, an axis per unit. At most {n} devices.").format(n=MAX_COMPARED)
        ).classes("text-sm text-grey-7")
        select = device_select(options, chosen)
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(_("Cancel"), on_click=dialog.close).props("flat")
            ui.button(
                _("Open chart"),
                icon="stacked_line_chart",
                on_click=lambda: ui.navigate.to(compare_url(select.value)),
            ).mark("compare-open").bind_enabled_from(select, "value", backward=bool)
    dialog.open()


def compare_button(options: Callable[[], dict[str, str]], shown: Callable[[], list[uuid.UUID]]) -> ui.button:
    """Opens the dialog over the page's devices (``options``), those it shows (``shown``) preselected."""
    return (
        ui.button(_("Compare"), icon="stacked_line_chart", on_click=lambda: compare_dialog(options(), shown))
        .props("outline")
        .mark("compare")
    )
