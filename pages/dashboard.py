"""/ (dashboard): every device's live state, searched, filtered, sorted and drawn one page at a time.

The page keeps a small ``CardState`` per device (updated from the bus) and draws cards or compact list
rows for the current page only, so 1000 devices cost the browser one page of elements, not 1000 cards.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from nicegui import app, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.bus import get_bus
from ddms.i18n import N_, _, format_integer
from ddms.services import devices, groups
from pages import theme
from pages.components.alarm_look import watch_alarms
from pages.components.compare_picker import compare_button
from pages.components.device_card import CardState, DeviceCard, DeviceRow
from pages.components.history import Trend, recent_trends
from pages.components.live import DeviceState, reload_on_device_changes, watch_latest
from pages.components.retry import retrying
from pages.layout import frame, notify_failure, require_user

LEVELS = ("normal", "warning", "critical", "offline")
LEVEL_RANK = {"critical": 3, "warning": 2, "offline": 1, "normal": 0}  # of display_level's levels
STATUS_RANK = {"error": 2, "offline": 1, "online": 0}
SORTS = {"severity": N_("Alarm state"), "name": N_("Name"), "status": N_("Connection status")}
VIEWS = {"cards": N_("Cards"), "list": N_("List")}
PAGE_SIZE = {"cards": 24, "list": 100}
LIST_FROM = 100  # with more devices than this the compact list is the default view
VIEW_KEY = "dashboard_view"  # the browser's chosen view, saved when the user picks one


class Counted(Protocol):
    @property
    def level_name(self) -> str: ...


class SummaryBar:
    """Counts per level (normal / warning / critical / offline); with ``on_pick`` each tile is a
    filter button (pressed again, it clears)."""

    def __init__(self, on_pick: Callable[[str], Any] | None = None) -> None:
        self.labels: dict[str, ui.label] = {}
        self.tiles: dict[str, ui.card] = {}
        with ui.row().classes("w-full gap-3"):
            for level in LEVELS:
                with (
                    ui.card()
                    .classes("px-4 py-2 min-w-[140px]")
                    .style(f"border-top: 6px solid {theme.LEVEL_COLOURS[level]}")
                    .mark(f"summary-{level}")
                    .props(theme.testid(f"summary-{level}")) as tile
                ):
                    ui.label(_(theme.LEVEL_LABELS[level])).classes("text-sm text-grey-7")
                    self.labels[level] = ui.label("0").classes("text-h4 font-bold")
                if on_pick is not None:
                    tile.classes("ddms-tile-filter").props('role=button tabindex=0 aria-pressed="false"')
                    tile.on("click", lambda level=level: on_pick(level))
                    tile.on("keydown.enter", lambda level=level: on_pick(level))
                self.tiles[level] = tile

    def show(self, cards: Iterable[Counted]) -> None:
        self.count([card.level_name for card in cards])

    def count(self, levels: list[str]) -> None:
        for level in LEVELS:
            self.labels[level].set_text(format_integer(levels.count(level)))

    def press(self, chosen: str) -> None:
        for level, tile in self.tiles.items():
            tile.props["aria-pressed"] = "true" if level == chosen else "false"


def sort_key(sort: str) -> Callable[[CardState], tuple[Any, ...]]:
    """Severity: unacknowledged alarms, then the worst level (``display_level``), then the name."""
    if sort == "name":
        return lambda s: (s.name.casefold(),)
    if sort == "status":
        return lambda s: (-STATUS_RANK.get(s.status, 1), s.waiting, s.name.casefold())
    return lambda s: (-s.alarm_rank, -LEVEL_RANK[s.level], s.name.casefold())


class Dashboard:
    """The device states, which of them the search and filters select, and the page drawn of them."""

    def __init__(
        self, device_rows: list[Any], group_options: dict[str, str], trends: dict[uuid.UUID, Trend]
    ) -> None:
        bus = get_bus()
        self.states = {
            row.id: CardState(row, bus.latest(row.id), trends.get(row.id, [])) for row in device_rows
        }
        self.group_members: set[uuid.UUID] | None = None
        self.level, self.search, self.sort, self.page = "", "", "severity", 1
        default_view = "list" if len(self.states) > LIST_FROM else "cards"
        self.view = str(app.storage.user.get(VIEW_KEY, default_view))
        if self.view not in VIEWS:
            self.view = default_view
        self.toolbar(group_options)
        self.summary = SummaryBar(self.pick_level)
        self.count = ui.label().classes("text-sm text-grey-7").mark("shown-count")
        self.items = ui.element("div").mark("cards")
        self.pager = ui.pagination(1, 1, direction_links=True, on_change=self.choose_page).mark("pager")
        self.empty = ui.label(_("No devices match the filters.")).classes("text-grey-7").mark("empty")
        self.drawn: dict[uuid.UUID, DeviceCard | DeviceRow] = {}
        self.order: list[uuid.UUID] = []
        self.apply()
        watch_latest(self.update, set(self.states), after=self.apply)
        watch_alarms(self.alarms_changed, set(self.states))
        reload_on_device_changes()

    def toolbar(self, group_options: dict[str, str]) -> None:
        with ui.row().classes("w-full items-center gap-3"):
            ui.input(_("Search by name"), on_change=self.choose_search).props(
                "outlined dense clearable"
            ).classes("w-56").mark("search")
            ui.select(group_options, value="", label=_("Group"), on_change=self.choose_group).props(
                "outlined dense"
            ).classes("w-48").mark("group-filter")
            status_options = {"": _("All statuses")} | {lvl: _(theme.LEVEL_LABELS[lvl]) for lvl in LEVELS}
            self.status_select = (
                ui.select(status_options, value="", label=_("Status"), on_change=self.choose_status)
                .props("outlined dense")
                .classes("w-48")
                .mark("status-filter")
            )
            sorts = {key: _(label) for key, label in SORTS.items()}
            ui.select(sorts, value=self.sort, label=_("Sort by"), on_change=self.choose_sort).props(
                "outlined dense"
            ).classes("w-48").mark("sort")
            views = {key: _(label) for key, label in VIEWS.items()}
            ui.toggle(views, value=self.view, on_change=self.choose_view).mark("view")
            compare_button(
                lambda: {str(s.device_id): s.name for s in self.states.values()},
                lambda: [state.device_id for state in self.selected()[1]],
            )

    def update(self, state: DeviceState) -> None:
        known = self.states.get(state.device_id)
        if known is None:
            return
        known.apply(state)
        drawn = self.drawn.get(state.device_id)
        if drawn is not None:
            drawn.render()

    def alarms_changed(self, device_id: uuid.UUID) -> None:
        known = self.states.get(device_id)
        if known is None:
            return
        known.alarms_changed()
        drawn = self.drawn.get(device_id)
        if drawn is not None:
            drawn.render()
        self.apply()

    def choose_search(self, event: Any) -> None:
        self.search, self.page = (event.value or "").strip().casefold(), 1
        self.apply()

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
        self.page = 1
        self.apply()

    def choose_status(self, event: Any) -> None:
        self.level, self.page = event.value or "", 1
        self.apply()

    def pick_level(self, level: str) -> None:
        """A summary tile: filter by its level, or clear the filter when it is the one already on."""
        self.status_select.set_value("" if self.level == level else level)

    def choose_sort(self, event: Any) -> None:
        self.sort, self.page = event.value or "severity", 1
        self.apply()

    def choose_view(self, event: Any) -> None:
        if event.value not in VIEWS or event.value == self.view:
            return
        self.view, self.page = event.value, 1
        app.storage.user[VIEW_KEY] = self.view
        self.apply()

    def choose_page(self, event: Any) -> None:
        self.page = int(event.value or 1)
        self.apply()

    def selected(self) -> tuple[list[CardState], list[CardState]]:
        """(devices the group and search select, of those the ones the level filter keeps, sorted)."""
        chosen = [
            state
            for state in self.states.values()
            if (self.group_members is None or state.device_id in self.group_members)
            and self.search in state.name.casefold()
        ]
        shown = [state for state in chosen if self.level in ("", state.level)]
        return chosen, sorted(shown, key=sort_key(self.sort))

    def apply(self) -> None:
        """Recount, re-sort and redraw the page if its devices or their order changed (once per batch)."""
        chosen, shown = self.selected()
        self.summary.count([state.level for state in chosen])
        self.summary.press(self.level)
        size = PAGE_SIZE[self.view]
        pages = max(1, math.ceil(len(shown) / size))
        self.page = min(self.page, pages)
        if self.pager.max != pages:
            self.pager.max = pages
        if self.pager.value != self.page:
            self.pager.set_value(self.page)
        self.pager.set_visibility(pages > 1)
        page = shown[(self.page - 1) * size : self.page * size]
        self.count.set_text(
            _("{shown} of {total} devices").format(
                shown=format_integer(len(shown)), total=format_integer(len(self.states))
            )
        )
        self.empty.set_visibility(not shown)
        self.draw(page)

    def draw(self, page: list[CardState]) -> None:
        ids = [state.device_id for state in page]
        view_drawn = next(iter(self.drawn.values()), None)
        same_view = view_drawn is None or isinstance(view_drawn, DeviceCard) == (self.view == "cards")
        if ids == self.order and same_view:
            return
        self.items.clear()
        self.items.classes(replace=_GRID if self.view == "cards" else "w-full flex flex-col gap-1")
        with self.items:
            if self.view == "cards":
                self.drawn = {s.device_id: DeviceCard(None, state=s) for s in page}
            else:
                self.drawn = {s.device_id: DeviceRow(s) for s in page}
        self.order = ids


_GRID = "w-full grid gap-4 grid-cols-1 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-4"


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
