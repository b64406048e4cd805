"""A history chart of several devices: a group's members, or devices picked to compare.

One line and one min/max band per device, on the y axis of its unit, sharper inside the zoomed window
(``ChartWindow``), each line broken where its device sent nothing; the CSV export is the visible window.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from nicegui import ui

from ddms.services.readings import Series
from pages.components import charts, series_shape
from pages.components.chart_window import ChartWindow, latest_wins
from pages.components.history import load_group_series
from pages.layout import chart_theme, notify_failure
from pages.session import current_time

POINTS = 500  # buckets per device over the whole range: several lines share the chart's width
EpisodeLoader = Callable[[datetime, datetime], Awaitable[list[charts.Episode]]]


class MultiHistory:
    """The chart, its range and zoom, and what each device's line shows."""

    def __init__(
        self,
        members: list[Any],
        window: Callable[[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]], ChartWindow],
        episodes: EpisodeLoader | None = None,
        mark: str = "group-chart",
    ) -> None:
        """``window`` makes the page's ``ChartWindow`` (its URL and export) from the two callbacks;
        ``episodes`` loads the alarm spans to shade, when the chart has any to show."""
        self.members = members
        self.load_episodes = episodes
        self.base: dict[uuid.UUID, Series] = {}
        self.episodes: list[charts.Episode] = []
        self.window = window(self.reload, self.zoomed)
        self.range = self.window.range
        self.chart = (
            ui.echart(charts.multi_options([]), theme=chart_theme()).classes("w-full h-[420px]").mark(mark)
        )
        self.window.attach(self.chart)

    @property
    def ids(self) -> list[uuid.UUID]:
        return [device.id for device in self.members]

    @property
    def fastest(self) -> float | None:
        return min((device.sampling_interval for device in self.members), default=None)

    async def reload(self) -> None:
        start, end = self.range.bounds
        generation = self.window.begin()
        try:
            base = await load_group_series(self.ids, start, end, POINTS, self.fastest)
            episodes = await self.load_episodes(start, end) if self.load_episodes else []
        except Exception as exc:
            notify_failure(exc)
            return
        if not self.window.current(generation):
            return
        self.base, self.episodes = base, episodes
        if self.window.zoom:
            await self.zoomed()
        else:
            self.draw({})

    async def zoomed(self) -> None:
        if self.window.zoom is None:
            self.window.begin()
            self.draw({})
            return
        start, end = self.window.zoom
        points = max(self.window.points // 2, 50)  # several lines share the width
        try:
            fine = await latest_wins(
                self.window, load_group_series(self.ids, start, end, points, self.fastest)
            )
        except Exception as exc:
            notify_failure(exc)
            return
        if fine is not None and self.window.zoom == (start, end):
            self.draw(fine)

    def draw(self, fine: dict[uuid.UUID, Series]) -> None:
        until = min(self.range.bounds[1], current_time())
        lines = []
        for device in self.members:
            base = self.base.get(device.id)
            if base is None:
                continue
            zoomed = fine.get(device.id)
            if zoomed is None:
                pairs = [(bucket, base.bucket_seconds) for bucket in base.points]
            else:
                start, end = self.window.visible
                pairs = series_shape.merged(
                    base.points, base.bucket_seconds, zoomed.points, zoomed.bucket_seconds, start, end
                )
            points = series_shape.shape(pairs, device.sampling_interval, until).points
            lines.append(charts.Line(device.name, device.unit or "", points))
        self.chart.options.clear()
        self.chart.options.update(charts.multi_options(lines, self.window.view, self.episodes))
        self.chart.update()
