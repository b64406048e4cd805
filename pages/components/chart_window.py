"""What a history chart shows: the chosen range, the part of it zoomed into, and everything that follows.

Zooming (mouse wheel, touch, the slider, the toolbox) only moves ECharts' dataZoom over the points it
already has; magnifying 2-minute buckets does not show what happened inside them. So each change of the
visible window is sent here (throttled in the browser, the last one wins), and the page fetches that
window from the series service at one bucket per pixel: zooming into a spike goes down to the raw
readings. The From/To fields, the URL (shareable, bookmarkable) and the CSV export follow the window.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from nicegui import ui
from nicegui.events import GenericEventArguments

from ddms.i18n import _
from pages.components import charts
from pages.components.time_range import TimeRange, to_query
from pages.session import browser_timezone

ZOOM_THROTTLE = 0.3  # seconds: a wheel turn sends one request when it stops, not one per notch
WHOLE = 0.995  # a window covering this share of the range is the range itself (not zoomed)
MIN_POINTS, MAX_POINTS = 100, 2000
# The browser tells the visible window as the dataZoom's values (epoch ms on the time axis) and the
# chart's width in pixels. The element id is a number NiceGUI generated: nothing else goes into it.
_ZOOM_JS = """(e) => {
  const chart = getElement(%d).chart;
  const zoom = chart && chart.getOption().dataZoom[0];
  if (zoom) emit({start: zoom.startValue, end: zoom.endValue, width: chart.getWidth()});
}"""


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class ChartWindow:
    """The range (``TimeRange``), the zoomed window inside it, and the export of what is visible."""

    def __init__(
        self,
        path: str,
        export_path: str,
        on_range: Callable[[], Awaitable[None]],
        on_zoom: Callable[[], Awaitable[None]],
        preset: str | None = "24h",
        custom: tuple[datetime, datetime] | None = None,
        *,
        view_query: dict[str, str] | None = None,
        export_query: dict[str, str] | None = None,
    ) -> None:
        """``view_query`` and ``export_query``: what else the page's URL and the export's name besides
        the window (the compared devices)."""
        self.path, self.export_path = path, export_path
        self.view_query, self.export_query = view_query or {}, export_query or {}
        self.on_range, self.on_zoom = on_range, on_zoom
        self.zoom: tuple[datetime, datetime] | None = None
        self.points = 1000  # buckets for the visible window: the chart's width once the browser told it
        self.generation = 0  # bumped by every change of what is shown; a stale fetch is dropped
        self.url = ""
        with ui.row().classes("w-full items-center justify-between gap-2"):
            self.range = TimeRange(self._range_changed, preset, custom)
            with ui.row().classes("items-center gap-1"):
                self.link = ui.link(_("Link to this view"), path).classes("text-sm").mark("view-link")
                ui.button(_("Export CSV"), icon="download", on_click=self.export).mark("export-csv")
                options = ui.button(icon="tune").props("flat round dense").mark("export-options")
                with options, ui.menu(), ui.column().classes("p-2 gap-0"):
                    self.local_time = ui.checkbox(
                        _("Local time ({zone})").format(zone=browser_timezone() or "UTC"), value=True
                    ).mark("export-local")
                    self.bom = ui.checkbox(_("Byte order mark (for Excel)"), value=True).mark("export-bom")
        self.follow()

    @property
    def visible(self) -> tuple[datetime, datetime]:
        return self.zoom or self.range.bounds

    @property
    def view(self) -> charts.View:
        """The axis: the range (open-ended while it reaches now: live values extend it) and the zoom."""
        start, end = self.range.bounds
        high = None if self.range.includes_now else end.isoformat()
        zoom = (self.zoom[0].isoformat(), self.zoom[1].isoformat()) if self.zoom else None
        return charts.View(start.isoformat(), high, zoom)

    def attach(self, chart: ui.echart) -> None:
        """Listen to the chart's zoom (every way of zooming ends in ECharts' datazoom) and its reset."""
        self.chart = chart
        chart.on(
            "chart:datazoom",
            self._zoomed,
            js_handler=_ZOOM_JS % chart.id,
            throttle=ZOOM_THROTTLE,
            leading_events=False,
        )
        chart.on("chart:restore", self._restored, [])

    def begin(self) -> int:
        self.generation += 1
        return self.generation

    def current(self, generation: int) -> bool:
        return generation == self.generation

    async def _range_changed(self) -> None:
        self.zoom = None
        self.follow()
        await self.on_range()

    async def _restored(self, _event: GenericEventArguments) -> None:
        await self._range_changed()

    async def _zoomed(self, event: GenericEventArguments) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        start, end = _moment(args.get("start")), _moment(args.get("end"))
        with contextlib.suppress(TypeError, ValueError):
            self.points = min(max(int(args.get("width") or 0), MIN_POINTS), MAX_POINTS)
        if start is None or end is None or end <= start:
            return
        low, high = self.range.bounds
        whole = (high - low) * WHOLE
        self.zoom = None if end - start >= whole else (max(start, low), min(end, high))
        for zoom in self.chart.options.get("dataZoom", []):  # later updates must not jump back
            zoom.pop("start", None)
            zoom.pop("end", None)
            zoom["startValue"], zoom["endValue"] = (start.isoformat(), end.isoformat())
        self.follow()
        await self.on_zoom()

    def follow(self) -> None:
        """From/To and the URL name the visible window (the preset's name while it is all shown)."""
        self.range.show(*self.visible)
        preset = self.range.preset if self.zoom is None else None
        self.url = f"{self.path}?{urlencode(self.view_query | to_query(preset, self.visible))}"
        self.link.props["href"] = self.url
        self.link.update()
        ui.navigate.history.replace(self.url)

    def export_url(self) -> str:
        """The download of exactly the visible window, in the browser's zone (offset in every time)
        or UTC, with a byte order mark so that spreadsheets read UTF-8 (°C, Chinese names)."""
        start, end = self.visible
        query = self.export_query | {"start_time": start.isoformat(), "end_time": end.isoformat()}
        if self.local_time.value:
            query["tz"] = browser_timezone() or "UTC"
        if self.bom.value:
            query["bom"] = "true"
        return f"{self.export_path}?{urlencode(query)}"

    def export(self) -> None:
        ui.download.from_url(self.export_url())


async def latest_wins(window: ChartWindow, fetch: Awaitable[Any]) -> Any | None:
    """``fetch``'s result, or None when another change of the window came while it ran."""
    generation = window.begin()
    result = await fetch
    return result if window.current(generation) else None
