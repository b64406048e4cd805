"""/ (dashboard): a live card per device, filters by group and status, and summary counts."""

from __future__ import annotations

import uuid
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.bus import get_bus
from ddms.i18n import _, format_integer
from ddms.services import devices, groups
from pages import theme
from pages.components.alarm_look import watch_alarms
from pages.components.device_card import DeviceCard
from pages.components.history import Trend, recent_trends
from pages.components.live import DeviceState, reload_on_device_changes, watch_latest
from pages.components.retry import retrying
from pages.layout import frame, notify_failure, require_user

LEVELS = ("normal", "warning", "critical", "offline")


class SummaryBar:
    """Counts per level (normal / warning / critical / offline) of the cards shown."""

    def __init__(self) -> None:
        self.labels: dict[str, ui.label] = {}
        with ui.row().classes("w-full gap-3"):
            for level in LEVELS:
                with (
                    ui.card()
                    .classes("px-4 py-2 min-w-[140px]")
                    .style(f"border-top: 6px solid {theme.LEVEL_COLOURS[level]}")
                    .mark(f"summary-{level}")
                    .props(theme.testid(f"summary-{level}"))
                ):
                    ui.label(_(theme.LEVEL_LABELS[level])).classes("text-sm text-grey-7")
                    self.labels[level] = ui.label("0").classes("text-h4 font-bold")

    def show(self, cards: list[DeviceCard]) -> None:
        for level in LEVELS:
            count = sum(1 for card in cards if card.level_name == level)
            self.labels[level].set_text(format_integer(count))


class Dashboard:
    """The cards, which of them the filters show, and the live feed that updates them."""

    def __init__(
        self, device_rows: list[Any], group_options: dict[str, str], trends: dict[uuid.UUID, Trend]
    ) -> None:
        self.group_members: set[uuid.UUID] | None = None
        self.status = ""
        with ui.row().classes("w-full items-center gap-3"):
            ui.select(group_options, value="", label=_("Group"), on_change=self.choose_group).props(
                "outlined dense"
            ).classes("w-56").mark("group-filter")
            status_options = {"": _("All statuses")} | {lvl: _(theme.LEVEL_LABELS[lvl]) for lvl in LEVELS}
            ui.select(status_options, value="", label=_("Status"), on_change=self.choose_status).props(
                "outlined dense"
            ).classes("w-56").mark("status-filter")
        self.summary = SummaryBar()
        bus = get_bus()
        with (
            ui.grid()
            .classes("w-full gap-4 grid-cols-1 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-4")
            .mark("cards")
        ):
            self.cards = {
                row.id: DeviceCard(row, bus.latest(row.id), trends.get(row.id, [])) for row in device_rows
            }
        self.empty = ui.label(_("No devices match the filters.")).classes("text-grey-7").mark("empty")
        self.apply()
        watch_latest(self.update, set(self.cards), after=self.apply)
        watch_alarms(self.alarms_changed, set(self.cards))
        reload_on_device_changes()

    def update(self, state: DeviceState) -> None:
        card = self.cards.get(state.device_id)
        if card is not None:
            card.update(state)

    def alarms_changed(self, device_id: uuid.UUID) -> None:
        card = self.cards.get(device_id)
        if card is not None:
            card.alarms_changed()

    async def choose_group(self, event: Any) -> None:
        if not event.value:
            self.group_members = None
        else:
            try:
                async with db.session_scope() as session:
                    members = await groups.group_devices(session=session, group_id=uuid.UUID(event.value))
            except Exception as exc:
                notify_failure(exc)
                return
            self.group_members = {device.id for device in members}
        self.apply()

    def choose_status(self, event: Any) -> None:
        self.status = event.value or ""
        self.apply()

    def apply(self) -> None:
        """Show the cards the filters select and recount the summary (once per batch of updates)."""
        in_group = [
            card
            for card in self.cards.values()
            if self.group_members is None or card.device_id in self.group_members
        ]
        shown = {card.device_id for card in in_group if self.status in ("", card.level_name)}
        for card in self.cards.values():
            visible = card.device_id in shown
            if card.card.visible != visible:
                card.card.set_visibility(visible)
        self.summary.show(in_group)
        self.empty.set_visibility(not shown)


@ui.page("/")
@retrying
async def dashboard_page(request: Request) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    async with db.session_scope() as session:
        device_rows = await devices.list_devices(session=session)
        group_rows = await groups.list_groups(session=session)
    trends = await recent_trends([row.id for row in device_rows])
    with frame(_("Dashboard"), user):
        Dashboard(device_rows, {"": _("All groups")} | {str(g.id): g.name for g in group_rows}, trends)
    return None
