"""/devices/{id}: the device's live card, its settings and its history chart with CSV export."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from nicegui import background_tasks, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.bus import get_bus
from ddms.errors import NotFound
from ddms.i18n import N_, _, format_number
from ddms.services import devices
from ddms.services.readings import Series
from pages import theme
from pages.components import charts, series_shape
from pages.components.alarm_history import AlarmHistoryList, load_episodes
from pages.components.alarm_look import watch_alarms
from pages.components.chart_window import ChartWindow, latest_wins
from pages.components.compare_picker import compare_url
from pages.components.device_card import DeviceCard
from pages.components.device_form import FIELDS, device_dialog
from pages.components.history import load_series, recent_trends
from pages.components.live import DeviceState, reload_on_device_changes, watch_latest
from pages.components.probe import run_connection_test
from pages.components.retry import retrying
from pages.components.time_range import from_query
from pages.devices import save_device
from pages.layout import chart_theme, frame, notify_failure, require_user
from pages.session import current_time

MAX_POINTS = 1000
MAX_APPENDED = 300  # raw live points added to a bucketed line before it is re-bucketed


class HistoryChart:
    """The chart of the chosen range, sharper inside the zoomed window, extended live while it
    reaches now."""

    def __init__(
        self, device: Any, preset: str | None = "24h", custom: tuple[datetime, datetime] | None = None
    ) -> None:
        self.device = device
        self.appended = 0
        self.episodes: list[charts.Episode] = []
        self.base: Series | None = None  # the whole range at MAX_POINTS (kept while zooming)
        self.window = ChartWindow(
            f"/devices/{device.id}",
            f"/ui/export/device/{device.id}",
            self.reload,
            self.zoomed,
            preset,
            custom,
        )
        self.range = self.window.range
        self.info = ui.label().classes("text-xs text-grey-7").mark("series-info")
        self.chart = (
            ui.echart(charts.device_options(device, []), theme=chart_theme())
            .classes("w-full h-[420px]")
            .mark("history-chart")
            .props(theme.testid("history-chart"))
        )
        self.window.attach(self.chart)

    async def reload(self) -> None:
        """The whole range again (a preset, Apply, a reset zoom, or a long live tail)."""
        self.appended = 0
        start, end = self.range.bounds
        generation = self.window.begin()
        self.chart.classes(add="opacity-50")
        try:
            base = await load_series(self.device.id, start, end, MAX_POINTS)
            episodes = await load_episodes(self.device.id, start, end)
        except Exception as exc:
            notify_failure(exc)
            return
        finally:
            self.chart.classes(remove="opacity-50")
        if not self.window.current(generation):
            return
        self.base, self.episodes = base, episodes
        if self.window.zoom:
            await self.zoomed()
        else:
            self.draw(None)

    async def zoomed(self) -> None:
        """The visible window changed: fetch it at one bucket per pixel (all of the range: the base)."""
        if self.base is None:
            return
        if self.window.zoom is None:
            self.window.begin()
            self.draw(None)
            return
        start, end = self.window.zoom
        try:
            fine = await latest_wins(self.window, load_series(self.device.id, start, end, self.window.points))
        except Exception as exc:
            notify_failure(exc)
            return
        if fine is not None and self.window.zoom == (start, end):
            self.draw(fine)

    def draw(self, fine: Series | None) -> None:
        assert self.base is not None
        base, width = self.base.points, self.base.bucket_seconds
        if fine is None:
            pairs = [(bucket, width) for bucket in base]
        else:
            start, end = self.window.visible
            pairs = series_shape.merged(base, width, fine.points, fine.bucket_seconds, start, end)
        until = min(self.range.bounds[1], current_time())
        shaped = series_shape.shape(pairs, self.device.sampling_interval, until)
        options = charts.device_options(
            self.device, shaped.points, self.episodes, shaped.gaps, self.window.view
        )
        self.chart.options.clear()
        self.chart.options.update(options)
        self.chart.update()
        shown = fine or self.base
        self.info.set_text(
            _("{n} points, bucket {seconds} s").format(
                n=format_number(len(shown.points), 0), seconds=format_number(shown.bucket_seconds, 0)
            )
        )

    def extend(self, state: DeviceState) -> None:
        """A new reading while the range ends now: append it (the chart is not reloaded)."""
        latest = state.latest
        if latest is None or not self.range.includes_now or not self.chart.options["series"]:
            return
        line, low, span = self.chart.options["series"][:3]
        moment = latest.timestamp.isoformat()
        if line["data"] and line["data"][-1][0] >= moment:
            return
        line["data"].append([moment, latest.value, latest.value, latest.value, 1])
        low["data"].append([moment, latest.value])
        span["data"].append([moment, 0.0])
        self.chart.update()
        self.appended += 1
        if self.appended >= MAX_APPENDED:  # keep the line within MAX_POINTS-ish: fetch buckets again
            self.appended = 0
            background_tasks.create(self.reload(), name="re-bucket history")


def info_grid(device: Any) -> None:
    shown = [f for f in FIELDS if f.name not in ("name", "description")]
    with ui.grid().classes("w-full gap-x-6 gap-y-1 grid-cols-2 md:grid-cols-4").mark("device-info"):
        for field in shown:
            value = getattr(device, field.name)
            if isinstance(value, float):
                value = format_number(value, 6)
            ui.label(_(field.label)).classes("text-xs text-grey-7")
            ui.label("—" if value in (None, "") else str(value)).classes("text-body2")
    if device.last_error:
        ui.label(_("Last error: {error}").format(error=device.last_error)).classes("text-negative text-sm")


POLL_COUNTERS = {
    "on_time": N_("Polls on time"),
    "late": N_("Late"),
    "missed": N_("Missed"),
    "failed": N_("Failed"),
}


def poll_counters(device_id: uuid.UUID) -> None:
    """The collector's poll accounting for this device, read from the bus (memory, no query)."""
    with ui.row().classes("w-full gap-6 pt-2").mark("poll-stats"):
        shown = {}
        for key, label in POLL_COUNTERS.items():
            with ui.column().classes("gap-0"):
                ui.label(_(label)).classes("text-xs text-grey-7")
                shown[key] = ui.label("—").classes("text-body2").mark(f"poll-{key}")

    def refresh() -> None:
        stats = get_bus().poll_stats(device_id)
        for key, label in shown.items():
            label.set_text(format_number(getattr(stats, key)) if stats is not None else "—")

    refresh()
    ui.timer(2.0, refresh)


@ui.page("/devices/{device_id}")
@retrying
async def device_detail_page(request: Request, device_id: str) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    try:
        async with db.session_scope() as session:
            device = await devices.get_device(session=session, device_id=uuid.UUID(device_id))
    except (ValueError, NotFound):
        with frame(_("Device"), user):
            ui.label(_("Device not found")).classes("text-negative").mark("not-found")
            ui.link(_("Back to devices"), "/devices")
        return None
    trend = (await recent_trends([device.id])).get(device.id, [])
    with frame(device.name, user):
        with ui.row().classes("w-full gap-4 items-stretch"):
            with ui.column().classes("w-full md:w-80"):
                card = DeviceCard(device, get_bus().latest(device.id), trend, link=False)
                if user.can_edit_devices:
                    with ui.row().classes("gap-2"):
                        ui.button(
                            _("Edit"),
                            icon="edit",
                            on_click=lambda: device_dialog(
                                device,
                                lambda body, form: save_device(device.id, body, form, ui.navigate.reload),
                            ),
                        ).mark("edit")
                        ui.button(
                            _("Test connection"),
                            icon="network_check",
                            on_click=lambda: run_connection_test(device.id),
                        ).props("outline").mark("test-connection")
            with ui.card().classes("grow"):
                if device.description:
                    ui.label(device.description).classes("text-body1")
                info_grid(device)
                poll_counters(device.id)
        with ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center justify-between"):
                ui.label(_("History")).classes("text-h6")
                ui.link(_("Compare with other devices"), compare_url([device.id])).mark("compare-link")
            chart = HistoryChart(device, *from_query(request.query_params))
        with ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center justify-between"):
                ui.label(_("Alarm history")).classes("text-h6")
                ui.link(_("All alarms"), "/alarms").mark("alarms-link")
            history = AlarmHistoryList(device.id)

        def on_state(state: DeviceState) -> None:
            card.update(state)
            chart.extend(state)

        watch_latest(on_state, {device.id})
        watch_alarms(lambda _device_id: card.alarms_changed(), {device.id})
        reload_on_device_changes({device.id})
    await chart.reload()
    await history.load()
    return None
