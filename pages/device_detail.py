"""/devices/{id}: the device's live card, its settings and its history chart with CSV export."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from nicegui import background_tasks, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.bus import get_bus
from ddms.errors import DDMSError, NotFound
from ddms.i18n import N_, _, format_number
from ddms.services import devices
from pages import theme
from pages.components import charts
from pages.components.alarm_history import AlarmHistoryList, load_episodes
from pages.components.alarm_look import watch_alarms
from pages.components.device_card import DeviceCard
from pages.components.device_form import FIELDS, device_dialog
from pages.components.history import load_series, recent_trends
from pages.components.live import DeviceState, reload_on_device_changes, watch_latest
from pages.components.probe import run_connection_test
from pages.components.time_range import TimeRange
from pages.devices import save_device
from pages.layout import chart_theme, frame, notify_error, require_user

MAX_POINTS = 1000
MAX_APPENDED = 300  # raw live points added to a bucketed line before it is re-bucketed


def _point(timestamp: Any, avg: float, low: float, high: float, count: int) -> list[Any]:
    return [timestamp.isoformat(), avg, low, high, count]


class HistoryChart:
    """The chart, its range, and the live extension of the line while the range includes now."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.appended = 0
        self.episodes: list[charts.Episode] = []
        with ui.row().classes("w-full items-center justify-between gap-2"):
            self.range = TimeRange(self.reload)
            ui.button(_("Export CSV"), icon="download", on_click=self.export).mark("export-csv")
        self.info = ui.label().classes("text-xs text-grey-7").mark("series-info")
        self.chart = (
            ui.echart(charts.device_options(device, []), theme=chart_theme())
            .classes("w-full h-[420px]")
            .mark("history-chart")
            .props(theme.testid("history-chart"))
        )

    async def reload(self) -> None:
        self.appended = 0
        start, end = self.range.bounds
        self.chart.classes(add="opacity-50")
        try:
            series = await load_series(self.device.id, start, end, MAX_POINTS)
            self.episodes = await load_episodes(self.device.id, start, end)
        except DDMSError as exc:
            notify_error(exc)
            return
        finally:
            self.chart.classes(remove="opacity-50")
        data = [_point(p.timestamp, p.avg, p.min, p.max, p.count) for p in series.points]
        self.chart.options.update(charts.device_options(self.device, data, self.episodes))
        self.chart.update()
        self.info.set_text(
            _("{n} points, bucket {seconds} s").format(
                n=format_number(len(data), 0), seconds=format_number(series.bucket_seconds, 0)
            )
        )

    def extend(self, state: DeviceState) -> None:
        """A new reading while the range ends now: append it (the chart is not reloaded)."""
        latest = state.latest
        if latest is None or not self.range.includes_now:
            return
        data = self.chart.options["series"][0]["data"]
        if data and data[-1][0] >= latest.timestamp.isoformat():
            return
        data.append([latest.timestamp.isoformat(), latest.value, latest.value, latest.value, 1])
        self.chart.update()
        self.appended += 1
        if self.appended >= MAX_APPENDED:  # keep the line within MAX_POINTS-ish: fetch buckets again
            self.appended = 0
            background_tasks.create(self.reload(), name="re-bucket history")

    def export(self) -> None:
        start, end = self.range.bounds
        query = urlencode({"start_time": start.isoformat(), "end_time": end.isoformat()})
        ui.download.from_url(f"/ui/export/device/{self.device.id}?{query}")


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
            ui.label(_("History")).classes("text-h6")
            chart = HistoryChart(device)
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
