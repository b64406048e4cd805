"""A device's live card (dashboard, group dashboard); the wall display's tile is pages/components/wall.py."""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from datetime import datetime
from typing import Any

from nicegui import ui

from ddms.bus import LatestValue, get_bus
from ddms.i18n import N_, _, format_moment, format_number
from ddms.services.levels import current_status, display_level
from pages import theme
from pages.components.alarm_look import AlarmLook, look_of
from pages.components.live import DeviceState
from pages.session import browser_timezone

TREND_POINTS = 60
TREND_REFRESH_SECONDS = 2.0
_SPARK_COLOURS = {theme.PRIMARY, *theme.LEVEL_COLOURS.values()}


ALARM_TEXTS = {  # (latched, acknowledged) -> words on the card
    (False, False): N_("{severity} alarm, not acknowledged"),
    (False, True): N_("{severity} alarm, acknowledged"),
    (True, False): N_("{severity} alarm cleared, not acknowledged"),
    (True, True): N_("{severity} alarm cleared"),
}


def alarm_text(look: AlarmLook) -> str:
    severity = _(theme.SEVERITY_LABELS.get(look.severity, look.severity))
    return _(ALARM_TEXTS[(look.latched, look.acknowledged)]).format(severity=severity)


def show_alarm(box: ui.element, label: ui.label, look: AlarmLook | None) -> None:
    """The alarm line and the latched outline (kept until acknowledged, value normal or not)."""
    label.set_visibility(look is not None)
    if look is None:
        box.classes(remove="ddms-latched")
        return
    colour = theme.SEVERITY_COLOURS.get(look.severity, theme.LEVEL_COLOURS["critical"])
    label.set_text(alarm_text(look))
    box.style(f"--ddms-alarm: {colour}")
    if look.acknowledged:
        box.classes(remove="ddms-latched")
    else:
        box.classes(add="ddms-latched")


def sparkline(values: list[float], colour: str = theme.PRIMARY) -> str:
    """A tiny inline SVG line of the recent values: cheap enough for hundreds of cards on one page.

    It is shown with ``ui.html(sanitize=False)``, so it is made of numbers and a theme colour only:
    values are formatted as numbers (a NaN from a device is left out), nothing else gets in.
    """
    values = [float(v) for v in values if math.isfinite(v)]
    if colour not in _SPARK_COLOURS:
        raise ValueError(f"sparkline colours are theme colours: {colour!r}")
    if len(values) < 2:
        return '<svg class="ddms-spark" viewBox="0 0 100 30"></svg>'
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = 100 / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{28 - 26 * (v - low) / span:.1f}" for i, v in enumerate(values))
    return (
        f'<svg class="ddms-spark" viewBox="0 0 100 30" preserveAspectRatio="none">'
        f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5" '
        f'vector-effect="non-scaling-stroke"/></svg>'
    )


class CardState:
    """What a device's card or list row shows, kept for every device of a page even while its card is
    not drawn (a dashboard of 1000 devices draws one page of them)."""

    def __init__(self, device: Any, latest: LatestValue | None, trend: list[tuple[datetime, float]]) -> None:
        self.device_id: uuid.UUID = device.id
        self.name: str = device.name
        self.unit: str = device.unit
        self.status: str = current_status(device.id, device.status)
        self.latest = latest
        self.alarm = look_of(device.id)
        self.trend: deque[float] = deque((value for _t, value in trend[-TREND_POINTS:]), maxlen=TREND_POINTS)
        self.trend_version = 0
        # A device nobody has polled yet is not offline: it has not been tried (issue 12).
        self.waiting = latest is None and getattr(device, "last_reading_at", None) is None
        self.waiting = self.waiting and get_bus().status(device.id) is None

    @property
    def level(self) -> str:
        return display_level(self.status, self.latest)

    @property
    def alarm_rank(self) -> int:
        """Unacknowledged alarms first, then acknowledged ones, worst first (as the wall orders)."""
        if self.alarm is None:
            return 0
        return self.alarm.rank + (10 if not self.alarm.acknowledged else 0)

    def apply(self, state: DeviceState) -> None:
        if state.latest is not None and state.latest != self.latest:
            self.trend.append(state.latest.value)
            self.trend_version += 1
        self.latest = state.latest
        self.status = state.status
        self.waiting = False  # the collector has reported on it: a reading, or why there is none

    def alarms_changed(self) -> None:
        self.alarm = look_of(self.device_id)

    def level_text(self) -> str:
        return _(theme.WAITING_LABEL) if self.waiting else _(theme.LEVEL_LABELS[self.level])

    def reading_time(self) -> str:
        latest = self.latest
        return format_moment(latest.timestamp, browser_timezone()) if latest else _("No reading yet")


class DeviceCard:
    """One device's card; ``update`` applies a new latest value pushed from the bus."""

    def __init__(
        self,
        device: Any,
        latest: LatestValue | None = None,
        trend: list[tuple[datetime, float]] | None = None,
        *,
        link: bool = True,
        state: CardState | None = None,
    ) -> None:
        self.state = state or CardState(device, latest, trend or [])
        self.device_id = self.state.device_id
        self.trend_sent = 0.0
        self.trend_drawn = self.state.trend_version
        on_click = (lambda: ui.navigate.to(f"/devices/{self.device_id}")) if link else None
        card_key = theme.key("device-card", self.device_id)
        with (
            ui.card()
            .classes("ddms-card w-full cursor-pointer gap-1")
            .on("click", on_click)
            .mark(card_key)
            .props(theme.testid(card_key)) as self.card
        ):
            with ui.row().classes("w-full items-center justify-between no-wrap"):
                ui.label(self.state.name).classes("text-subtitle1 font-bold leading-tight")
                self.badge = ui.badge().classes("text-sm px-2 py-1").mark("status-badge")
            with ui.row().classes("items-baseline gap-0"):
                self.value = ui.label().classes("ddms-numeral").mark("value").props(theme.testid("value"))
                ui.label(self.state.unit).classes("ddms-unit")
            self.level = ui.label().classes("text-sm font-bold").mark("level")
            self.alarm_label = (
                ui.label().classes("text-sm font-bold").mark("alarm-look").props(theme.testid("alarm-look"))
            )
            self.time = ui.label().classes("text-xs text-grey-7").mark("last-reading")
            self.chart = (
                ui.html(sparkline(list(self.state.trend)), sanitize=False).classes("w-full").mark("trend")
            )
        self.tone = ""
        self.render()

    @property
    def level_name(self) -> str:
        return self.state.level

    def update(self, state: DeviceState) -> None:
        self.state.apply(state)
        self.render()

    def alarms_changed(self) -> None:
        self.state.alarms_changed()
        self.render()

    def render(self) -> None:
        state = self.state
        if state.trend_version != self.trend_drawn:
            now = time.monotonic()
            if now - self.trend_sent >= TREND_REFRESH_SECONDS:  # the number is live, the line calmer
                self.trend_sent, self.trend_drawn = now, state.trend_version
                self.chart.set_content(sparkline(list(state.trend)))
        show_alarm(self.card, self.alarm_label, state.alarm)
        level = state.level
        self.card.style(f"--ddms-level: {theme.LEVEL_COLOURS[level]}")
        self.value.set_text(format_number(state.latest.value if state.latest else None))
        tone = "offline" if state.waiting else level
        if tone != self.tone:
            if self.tone:
                self.value.classes(remove=theme.tone_class(self.tone))
                self.level.classes(remove=theme.tone_class(self.tone))
            if tone != "normal":
                self.value.classes(add=theme.tone_class(tone))
            self.level.classes(add=theme.tone_class(tone))
            self.tone = tone
        self.level.set_text(state.level_text())
        self.badge.set_visibility(not state.waiting)
        self.badge.set_text(_(theme.STATUS_LABELS.get(state.status, state.status)))
        self.badge.style(fill_of_status(state.status))
        self.time.set_text(state.reading_time())


def fill_of_status(status: str) -> str:
    return theme.fill_style(theme.STATUS_COLOURS.get(status, theme.STATUS_COLOURS["offline"]))


class DeviceRow:
    """One line of the dashboard's compact list: name, value, level, status, time (few elements, so a
    page of a hundred stays light)."""

    def __init__(self, state: CardState) -> None:
        self.state = state
        self.device_id = state.device_id
        row_key = theme.key("list-row", state.device_id)
        with (
            ui.row()
            .classes("ddms-row w-full items-center no-wrap gap-3 px-2 py-1 cursor-pointer")
            .on("click", lambda: ui.navigate.to(f"/devices/{self.device_id}"))
            .mark(row_key)
            .props(theme.testid(row_key)) as self.row
        ):
            ui.label(state.name).classes("grow font-bold ellipsis min-w-0")
            self.value = (
                ui.label()
                .classes("text-right font-bold min-w-[7rem]")
                .mark("value")
                .props(theme.testid("value"))
            )
            self.level = ui.label().classes("text-sm min-w-[6rem] gt-xs").mark("level")
            self.badge = ui.badge().classes("text-sm px-2 py-1").mark("status-badge")
            self.time = ui.label().classes("text-xs text-grey-7 min-w-[9rem] gt-sm").mark("last-reading")
        self.tone = ""
        self.render()

    def render(self) -> None:
        state = self.state
        level = state.level
        self.row.style(f"--ddms-level: {theme.LEVEL_COLOURS[level]}")
        value = format_number(state.latest.value if state.latest else None)
        self.value.set_text(f"{value} {state.unit}".rstrip())
        tone = "offline" if state.waiting else level
        if tone != self.tone:
            if self.tone:
                self.level.classes(remove=theme.tone_class(self.tone))
            self.level.classes(add=theme.tone_class(tone))
            self.tone = tone
        self.level.set_text(state.level_text() if state.alarm is None else alarm_text(state.alarm))
        self.badge.set_visibility(not state.waiting)
        self.badge.set_text(_(theme.STATUS_LABELS.get(state.status, state.status)))
        self.badge.style(fill_of_status(state.status))
        self.time.set_text(state.reading_time())
