"""The history range selector: presets (1 h, 24 h, 7 d, 30 d) and a custom range."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nicegui import ui

from ddms.errors import DDMSError
from ddms.i18n import N_, _
from ddms.services import readings
from pages.session import browser_timezone, current_time

PRESETS: dict[str, tuple[str, timedelta]] = {
    "1h": (N_("1 h"), timedelta(hours=1)),
    "24h": (N_("24 h"), timedelta(hours=24)),
    "7d": (N_("7 d"), timedelta(days=7)),
    "30d": (N_("30 d"), timedelta(days=30)),
}
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def _zone() -> timezone | ZoneInfo:
    try:
        return ZoneInfo(browser_timezone() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_local(text: str | None) -> datetime | None:
    """A ``datetime-local`` input value, read in the browser's zone, as aware UTC (None if empty/bad)."""
    if not text:
        return None
    try:
        return datetime.strptime(text, LOCAL_FORMAT).replace(tzinfo=_zone()).astimezone(UTC)
    except ValueError:
        return None


class TimeRange:
    """Which instants a chart shows; ``includes_now`` tells whether live values extend it."""

    def __init__(
        self,
        on_change: Callable[[], Awaitable[None]],
        preset: str | None = "24h",
        custom: tuple[datetime, datetime] | None = None,
    ) -> None:
        self.on_change = on_change
        self.preset: str | None = None if custom is not None else (preset or "24h")
        self.custom: tuple[datetime, datetime] | None = custom
        with ui.row().classes("items-center gap-2 flex-wrap"):
            self.toggle = (
                ui.toggle(
                    {key: _(label) for key, (label, _delta) in PRESETS.items()},
                    value=self.preset,
                    on_change=self._choose_preset,
                )
                .props("no-caps")
                .mark("range-presets")
            )
            self.start_input = ui.input(_("From")).props("type=datetime-local outlined dense")
            self.start_input.mark("range-start")
            self.end_input = ui.input(_("To")).props("type=datetime-local outlined dense").mark("range-end")
            ui.button(_("Apply"), on_click=self._apply_custom).props("outline").mark("range-apply")
        self._show_bounds()

    def _show_bounds(self) -> None:
        self.show(*self.bounds)

    def show(self, start: datetime, end: datetime) -> None:
        """Let From/To show the window the chart shows (a preset's window or the zoomed part of the
        range, in the browser's zone), so that Apply keeps exactly what is on screen."""
        self.start_input.set_value(start.astimezone(_zone()).strftime(LOCAL_FORMAT))
        self.end_input.set_value(end.astimezone(_zone()).strftime(LOCAL_FORMAT))

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        if self.preset is not None:
            end = current_time()
            return end - PRESETS[self.preset][1], end
        assert self.custom is not None
        return self.custom

    @property
    def includes_now(self) -> bool:
        return self.preset is not None or (self.custom is not None and self.custom[1] >= current_time())

    async def _choose_preset(self, event: object) -> None:
        value = getattr(event, "value", None)
        if value is None:
            return
        self.preset, self.custom = value, None
        self._show_bounds()
        await self.on_change()

    async def _apply_custom(self) -> None:
        start, end = parse_local(self.start_input.value), parse_local(self.end_input.value)
        if start is None or end is None:
            ui.notify(_("Enter both dates and times"), type="warning")
            return
        if end <= start:
            ui.notify(_("The end must be after the start"), type="warning")
            return
        self.preset, self.custom = None, (start, end)
        self.toggle.set_value(None)
        await self.on_change()


def from_query(params: Mapping[str, str]) -> tuple[str | None, tuple[datetime, datetime] | None]:
    """The range a shared or bookmarked URL names: ``?range=24h`` (a preset) or ``?from=&to=``
    (ISO 8601, naive is UTC); anything unreadable falls back to the 24 h preset."""
    if params.get("range") in PRESETS:
        return params["range"], None
    try:
        start = readings.parse_time(params.get("from"), "from")
        end = readings.parse_time(params.get("to"), "to")
    except DDMSError:
        return "24h", None
    if start is None or end is None or end <= start:
        return "24h", None
    return None, (start, end)


def to_query(preset: str | None, window: tuple[datetime, datetime]) -> dict[str, str]:
    """The URL query of what a chart shows: the preset while it shows the whole of it, else the window."""
    if preset is not None:
        return {"range": preset}
    start, end = window
    return {"from": _iso(start), "to": _iso(end)}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
