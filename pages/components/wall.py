"""The wall display's tiles: one screen-filling page of them at a time, alarms first, rotating.

Every device's state (latest value, connection status, alarm look) is kept here from the bus, but
only the tiles of the page on screen exist in the browser: a wall of 1000 devices costs the browser
one page of tiles, and readings of devices on other pages send nothing. The page order, the grid and
the rotation are ``pages.components.wall_layout``'s pure functions; the browser reports its viewport
(``VIEWPORT_JS``) and the grid follows it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from nicegui import events, ui

from ddms.bus import LatestValue, get_bus
from ddms.i18n import N_, _, format_moment, format_number
from ddms.services import alarms
from ddms.services.levels import WAITING_LEVEL, awaiting_first_reading, current_status, display_level
from pages import theme
from pages.components import wall_layout as layout
from pages.components.alarm_look import AlarmLook, look_of, watch_alarms
from pages.components.device_card import show_alarm
from pages.components.live import DeviceState, watch_latest
from pages.session import browser_timezone

WAITING_TEXT = N_("Waiting for first reading")
PAGE_TEXT = N_("Page {page} of {pages}")
LABELS = {**theme.LEVEL_LABELS, WAITING_LEVEL: WAITING_TEXT}
BACKGROUNDS = {**theme.LEVEL_COLOURS, WAITING_LEVEL: "#37474f"}
# White is unreadable on amber (2.1:1); dark text there (9.8:1), white on the darker colours.
TEXT_COLOURS = {level: "#111111" if level == "warning" else "#ffffff" for level in BACKGROUNDS}

WALL_CSS = f"""
.ddms-wall {{ position: fixed; inset: 0; display: flex; flex-direction: column; background: #000;
  color: #fff; overflow: hidden; }}
.ddms-wall-head {{ flex: 0 0 {layout.HEADER_PX}px; height: {layout.HEADER_PX}px; display: flex;
  align-items: center; gap: 16px; padding: 0 {layout.PAD_PX}px; overflow: hidden; white-space: nowrap; }}
.ddms-wall-title {{ font-size: 32px; font-weight: 700; min-width: 0; overflow: hidden;
  text-overflow: ellipsis; }}
.ddms-wall-clock {{ font-size: 32px; font-variant-numeric: tabular-nums; }}
.ddms-wall-page {{ font-size: 24px; opacity: .85; }}
.ddms-wall-head .ddms-conn {{ font-size: 22px; }}
.ddms-wall-head .ddms-conn::before {{ width: 16px; height: 16px; }}
.ddms-wall-grid {{ flex: 1 1 auto; min-height: 0; display: grid; gap: {layout.GAP_PX}px;
  padding: 0 {layout.PAD_PX}px {layout.PAD_PX}px;
  grid-template-columns: repeat(var(--ddms-cols), minmax(0, 1fr));
  grid-template-rows: repeat(var(--ddms-rows), minmax(0, 1fr)); }}
.ddms-wall .ddms-tile {{ min-height: 0; min-width: 0; overflow: hidden; padding: {layout.TILE_PAD_PX}px;
  border-radius: 10px; display: flex; flex-direction: column; gap: {layout.LINE_GAP_PX}px; }}
.ddms-wall .ddms-tile-name {{ font-size: var(--ddms-name); line-height: 1.2; font-weight: 600;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.ddms-wall .ddms-tile-value {{ display: flex; align-items: baseline; gap: .15em; white-space: nowrap;
  min-width: 0; overflow: hidden; }}
.ddms-wall .ddms-tile .ddms-numeral {{ font-size: var(--ddms-value); line-height: 1; }}
.ddms-wall .ddms-tile-unit {{ font-size: var(--ddms-name); opacity: .85; }}
.ddms-wall .ddms-tile-line {{ display: flex; justify-content: space-between; gap: 8px; min-width: 0; }}
.ddms-wall .ddms-tile-small {{ font-size: var(--ddms-small); line-height: 1.25; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }}
"""

# Tells the server the viewport (on connect, after a reconnect and when it changes).
VIEWPORT_JS = """
<script>
(() => {
  let sent = '';
  setInterval(() => {
    if (!(window.socket && window.socket.connected)) { sent = ''; return; }
    const size = innerWidth + 'x' + innerHeight;
    if (size !== sent) {
      sent = size;
      emitEvent('ddms_viewport', {width: innerWidth, height: innerHeight});
    }
  }, 500);
})();
</script>
"""


@dataclass(slots=True)
class Entry:
    """What the wall knows of one device, kept current from the bus."""

    device: Any
    latest: LatestValue | None
    status: str
    waiting: bool  # no reading ever and not reported on by the collector yet
    alarm: AlarmLook | None

    @property
    def level(self) -> str:
        return WAITING_LEVEL if self.waiting else display_level(self.status, self.latest)

    def standing(self) -> layout.Standing:
        alarm = self.alarm
        return layout.Standing(
            self.device.id,
            self.level,
            alarm.severity if alarm else None,
            alarm.acknowledged if alarm else True,
        )


class WallTile:
    """One device on screen: its name, the value huge, level and time, the alarm line; the level's
    colour as the whole background."""

    def __init__(self, entry: Entry) -> None:
        device = entry.device
        tile_key = theme.key("tile", device.id)
        with ui.element("div").classes("ddms-tile").mark(tile_key).props(theme.testid(tile_key)) as self.tile:
            ui.label(device.name).classes("ddms-tile-name")
            with ui.element("div").classes("ddms-tile-value"):
                self.value = ui.label().classes("ddms-numeral").mark("value")
                ui.label(device.unit).classes("ddms-tile-unit")
            with ui.element("div").classes("ddms-tile-line"):
                self.level = ui.label().classes("ddms-tile-small font-bold").mark("level")
                self.time = ui.label().classes("ddms-tile-small opacity-80").mark("last-reading")
            self.alarm_label = (
                ui.label()
                .classes("ddms-tile-small font-bold")
                .mark("alarm-look")
                .props(theme.testid("alarm-look"))
            )
        self.shown_level = ""
        self.render(entry)

    def render(self, entry: Entry) -> None:
        show_alarm(self.tile, self.alarm_label, entry.alarm)
        level = entry.level
        if level != self.shown_level:
            self.shown_level = level
            self.tile.style(f"background: {BACKGROUNDS[level]}; color: {TEXT_COLOURS[level]}")
            self.tile.props["data-level"] = level  # a fixed word, set as a value
            self.tile.update()
            self.level.set_text(_(LABELS[level]))
        latest = entry.latest
        self.value.set_text(format_number(latest.value if latest else None))
        self.time.set_text(format_moment(latest.timestamp, browser_timezone()) if latest else "")


def _worse(before: AlarmLook | None, after: AlarmLook | None) -> bool:
    """A new unacknowledged alarm, or one that got worse: worth showing the first page at once."""
    if after is None or after.acknowledged:
        return False
    return before is None or before.acknowledged or after.rank > before.rank


class Wall:
    """The grid of the page on screen, its page indicator, and the timers and listeners that keep it."""

    def __init__(self, rows: list[Any], *, rotate: int, indicator: ui.label) -> None:
        bus, summary = get_bus(), alarms.active_summary()
        self.entries = {
            row.id: Entry(
                row,
                bus.latest(row.id),
                current_status(row.id, row.status, bus),
                awaiting_first_reading(row.id, row.last_reading_at, bus),
                look_of(row.id, summary),
            )
            for row in rows
        }
        self.area = layout.grid_area(*layout.DEFAULT_SCREEN)
        self.fit = layout.fit(len(self.entries), *self.area)
        self.rotation = layout.Rotation(rotate)
        self.pages: list[list[uuid.UUID]] = [[]]
        self.tiles: dict[uuid.UUID, WallTile] = {}
        self.raised: set[uuid.UUID] = set()
        self.dirty = True
        self.indicator = indicator
        ui.add_css(WALL_CSS)
        self.grid = ui.element("div").classes("ddms-wall-grid").mark("tiles").style(self.fit.style())
        if not self.entries:
            indicator.set_visibility(False)
            with self.grid:
                ui.label(_("No devices to show.")).classes("text-h4").mark("empty")
            return
        self.refresh()
        ids = set(self.entries)
        watch_latest(self.on_state, ids, after=self.refresh)
        watch_alarms(self.on_alarm, ids, after=self.refresh)
        ui.timer(1.0, self.tick).mark("rotation")
        ui.add_body_html(VIEWPORT_JS)
        ui.on("ddms_viewport", self.on_viewport)

    @property
    def on_screen(self) -> list[uuid.UUID]:
        return list(self.tiles)

    def on_state(self, state: DeviceState) -> None:
        entry = self.entries[state.device_id]
        level = entry.level
        entry.latest, entry.status, entry.waiting = state.latest, state.status, False
        self.dirty |= entry.level != level
        tile = self.tiles.get(state.device_id)
        if tile is not None:
            tile.render(entry)

    def on_alarm(self, device_id: uuid.UUID) -> None:
        entry = self.entries[device_id]
        before, entry.alarm = entry.alarm, look_of(device_id)
        if _worse(before, entry.alarm):
            self.raised.add(device_id)
        self.dirty = True
        tile = self.tiles.get(device_id)
        if tile is not None:
            tile.render(entry)

    def refresh(self) -> None:
        """Re-order and re-page after level or alarm changes; a new alarm brings the first page."""
        if not self.dirty:
            return
        self.dirty = False
        order = layout.wall_order([entry.standing() for entry in self.entries.values()])
        self.pages = layout.paginate(order, self.fit.per_page)
        self.rotation.set_pages(len(self.pages))
        if self.raised and not self.raised <= set(self.pages[self.rotation.page]):
            self.rotation.first()
        self.raised.clear()
        self.show()

    def tick(self) -> None:
        if self.rotation.tick():
            self.show()

    def on_viewport(self, event: events.GenericEventArguments) -> None:
        try:
            width, height = (min(20_000, max(100, int(event.args[key]))) for key in ("width", "height"))
        except (KeyError, TypeError, ValueError):
            return
        area = layout.grid_area(width, height)
        if area == self.area:
            return
        self.area = area
        fitted = layout.fit(len(self.entries), *area)
        if fitted != self.fit:
            self.fit = fitted
            self.grid.style(fitted.style())
            self.dirty = True
            self.refresh()

    def show(self) -> None:
        """Make the grid hold exactly the current page's tiles, in order (reusing those that stay)."""
        wanted = self.pages[self.rotation.page]
        for device_id in [device_id for device_id in self.tiles if device_id not in wanted]:
            self.tiles.pop(device_id).tile.delete()
        with self.grid:
            for device_id in wanted:
                if device_id not in self.tiles:
                    self.tiles[device_id] = WallTile(self.entries[device_id])
        children = self.grid.default_slot.children
        if [child.id for child in children] != [self.tiles[device_id].tile.id for device_id in wanted]:
            for index, device_id in enumerate(wanted):
                self.tiles[device_id].tile.move(self.grid, target_index=index)
        self.tiles = {device_id: self.tiles[device_id] for device_id in wanted}
        pages = len(self.pages)
        self.indicator.set_text(_(PAGE_TEXT).format(page=self.rotation.page + 1, pages=pages))
        self.indicator.set_visibility(pages > 1)
