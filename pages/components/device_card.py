"""A device's live card (dashboard, group dashboard); the wall display's tile is pages/components/wall.py."""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from datetime import datetime
from typing import Any

from nicegui import ui

from ddms.bus import LatestValue
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


class DeviceCard:
    """One device's card; ``update`` applies a new latest value pushed from the bus."""

    def __init__(
        self,
        device: Any,
        latest: LatestValue | None,
        trend: list[tuple[datetime, float]],
        *,
        link: bool = True,
    ) -> None:
        self.device_id: uuid.UUID = device.id
        self.unit: str = device.unit
        self.status: str = current_status(device.id, device.status)
        self.latest = latest
        self.alarm = look_of(device.id)
        self.trend_sent = 0.0
        self.trend: deque[float] = deque((value for _t, value in trend[-TREND_POINTS:]), maxlen=TREND_POINTS)
        on_click = (lambda: ui.navigate.to(f"/devices/{self.device_id}")) if link else None
        card_key = theme.key("device-card", device.id)
        with (
            ui.card()
            .classes("ddms-card w-full cursor-pointer gap-1")
            .on("click", on_click)
            .mark(card_key)
            .props(theme.testid(card_key)) as self.card
        ):
            with ui.row().classes("w-full items-center justify-between no-wrap"):
                ui.label(device.name).classes("text-subtitle1 font-bold leading-tight")
                self.badge = ui.badge().classes("text-sm px-2 py-1").mark("status-badge")
            with ui.row().classes("items-baseline gap-0"):
                self.value = ui.label().classes("ddms-numeral").mark("value").props(theme.testid("value"))
                ui.label(device.unit).classes("ddms-unit")
            self.level = ui.label().classes("text-sm font-bold").mark("level")
            self.alarm_label = (
                ui.label().classes("text-sm font-bold").mark("alarm-look").props(theme.testid("alarm-look"))
            )
            self.time = ui.label().classes("text-xs text-grey-7").mark("last-reading")
            self.chart = ui.html(sparkline(list(self.trend)), sanitize=False).classes("w-full").mark("trend")
        self.render()

    @property
    def level_name(self) -> str:
        return display_level(self.status, self.latest)

    def update(self, state: DeviceState) -> None:
        if state.latest is not None and state.latest != self.latest:
            self.trend.append(state.latest.value)
            now = time.monotonic()
            if now - self.trend_sent >= TREND_REFRESH_SECONDS:  # the number is live, the line calmer
                self.trend_sent = now
                self.chart.set_content(sparkline(list(self.trend)))
        self.latest = state.latest
        self.status = state.status
        self.render()

    def alarms_changed(self) -> None:
        self.alarm = look_of(self.device_id)
        self.render()

    def render(self) -> None:
        show_alarm(self.card, self.alarm_label, self.alarm)
        level = self.level_name
        latest = self.latest
        colour = theme.LEVEL_COLOURS[level]
        self.card.style(f"--ddms-level: {colour}")
        self.value.set_text(format_number(latest.value if latest else None))
        self.value.style(f"color: {colour if level != 'normal' else 'inherit'}")
        self.level.set_text(_(theme.LEVEL_LABELS[level]))
        self.level.style(f"color: {colour}")
        self.badge.set_text(_(theme.STATUS_LABELS.get(self.status, self.status)))
        self.badge.style(f"background: {theme.STATUS_COLOURS.get(self.status, '#757575')} !important")
        when = format_moment(latest.timestamp, browser_timezone()) if latest else _("No reading yet")
        self.time.set_text(when)
