"""/alarms: the alarm centre. Active alarms first, filters, acknowledgement, and the cleared history.

Every role may acknowledge (the operator's job); the service records the acting user's name. The
list follows the engine live: each transition arrives on the bus with the alarm as it now is
(``on_alarm_notices``), and the page puts it in or takes it out by the filters it shows, without
asking the database again. The history of cleared alarms is read for a time range and downloads as
CSV (``/ui/export/alarms``, ``pages.exports``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from nicegui import context, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.bus import AlarmNotice, get_bus
from ddms.errors import DDMSError
from ddms.i18n import _, format_datetime, format_integer, format_number
from ddms.schemas.alarms import AlarmOut
from ddms.services import alarms, devices, groups
from pages import theme
from pages.components.retry import retrying
from pages.components.time_range import TimeRange
from pages.layout import acting_user, busy, frame, notify_done, notify_error, notify_failure, require_user
from pages.session import browser_timezone

LIST_LIMIT = 500  # the contract's page size: more active alarms than this is a plant on fire
HISTORY_LIMIT = 200
COMMENT_MAX = 500
REFRESH_SECONDS = 0.5


def _severity_badge(severity: str) -> None:
    colour = theme.SEVERITY_COLOURS.get(severity, theme.LEVEL_COLOURS["offline"])
    ui.badge(_(theme.SEVERITY_LABELS.get(severity, severity))).classes("text-sm px-2 py-1").style(
        theme.fill_style(colour)
    ).mark("severity")


def _number(value: float | None) -> str:
    return format_number(value) if value is not None else "—"


def _when(value: Any) -> str:
    return format_datetime(value, browser_timezone()) if value is not None else "—"


def acknowledge_dialog(
    title: str, acknowledge: Callable[[str | None], Awaitable[bool]], marker: str = "ack-dialog"
) -> None:
    """Ask for an optional comment (at most 500 characters), then acknowledge.

    The dialog lives in the page's content, not in the row whose button opened it: acknowledging
    re-renders that row, and a dialog (and its notification) inside it would go with it.
    """
    with ui.context.client.content, ui.dialog() as dialog, ui.card().classes("w-96").mark(marker):
        ui.label(title).classes("text-h6")
        comment = (
            ui.textarea(_("Comment (optional)"), validation={_("At most 500 characters"): _short})
            .props("outlined counter maxlength=500")
            .classes("w-full")
            .mark("ack-comment")
        )

        async def confirm() -> None:
            text = (comment.value or "").strip()
            if len(text) > COMMENT_MAX:
                return
            if await acknowledge(text or None):
                dialog.close()

        with ui.row().classes("w-full justify-end"):
            ui.button(_("Cancel"), on_click=dialog.close).props("flat")
            ui.button(_("Acknowledge"), icon="done", on_click=busy(confirm)).mark("confirm-ack").props(
                theme.testid("confirm-ack")
            )
    dialog.on_value_change(lambda event: None if event.value else dialog.delete())  # closed: gone
    dialog.open()


def _short(value: str | None) -> bool:
    return len(value or "") <= COMMENT_MAX


class Filters:
    """Severity, device, group and state: what the active list and the history show."""

    def __init__(self, device_options: dict[str, str], group_options: dict[str, str], on_change: Any) -> None:
        self.severity = ""
        self.device = ""
        self.group = ""
        self.state = "active"
        self.members: set[uuid.UUID] | None = None
        self.on_change = on_change
        severities = {"": _("All severities")} | {
            key: _(theme.SEVERITY_LABELS[key]) for key in ("critical", "error", "warning")
        }
        states = {"active": _("Active"), "cleared": _("Cleared"), "all": _("All states")}
        with ui.row().classes("w-full items-center gap-3").mark("alarm-filters"):
            ui.select(severities, value="", label=_("Severity"), on_change=self._set("severity")).props(
                "outlined dense"
            ).classes("w-44").mark("filter-severity")
            ui.select(device_options, value="", label=_("Device"), on_change=self._set("device")).props(
                "outlined dense"
            ).classes("w-56").mark("filter-device")
            ui.select(group_options, value="", label=_("Group"), on_change=self._group).props(
                "outlined dense"
            ).classes("w-56").mark("filter-group")
            ui.select(states, value="active", label=_("State"), on_change=self._set("state")).props(
                "outlined dense"
            ).classes("w-44").mark("filter-state")

    def _set(self, name: str) -> Callable[[Any], Awaitable[None]]:
        async def change(event: Any) -> None:
            setattr(self, name, event.value or ("active" if name == "state" else ""))
            await self.on_change()

        return change

    async def _group(self, event: Any) -> None:
        self.group = event.value or ""
        if self.group:
            try:
                async with db.session_scope() as session:
                    members = await groups.group_devices(session=session, group_id=uuid.UUID(self.group))
            except Exception as exc:
                notify_failure(exc)
                return
            self.members = {device.id for device in members}
        else:
            self.members = None
        await self.on_change()

    def query(self) -> dict[str, Any]:
        """The service's keyword arguments for these filters (state aside)."""
        return {
            "severity": self.severity or None,
            "device_id": uuid.UUID(self.device) if self.device else None,
            "group_id": uuid.UUID(self.group) if self.group else None,
        }

    def matches(self, alarm: AlarmOut, state: str | None = None) -> bool:
        wanted = state or self.state
        return (
            (wanted == "all" or alarm.state == wanted)
            and (not self.severity or alarm.severity == self.severity)
            and (not self.device or str(alarm.device_id) == self.device)
            and (self.members is None or alarm.device_id in self.members)
        )


def _active_first(alarm: AlarmOut) -> tuple[int, float]:
    return (0 if alarm.state == "active" else 1, -alarm.raised_at.timestamp())


class AlarmList:
    """The alarms the filters select (active first), each with its acknowledge button."""

    def __init__(self, filters: Filters) -> None:
        self.filters = filters
        self.alarms: dict[uuid.UUID, AlarmOut] = {}
        self.total = 0
        self.pending: list[AlarmNotice] = []
        self.loads = 0  # loads started; only the newest draws
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(_("Alarms")).classes("text-h6")
            self.count = ui.label().classes("text-grey-7").mark("alarm-total")
            ui.space()
            ui.button(_("Acknowledge all"), icon="done_all", on_click=self.ask_all).mark("ack-all").props(
                theme.testid("ack-all")
            )
        self.rows = ui.column().classes("w-full gap-1").mark("alarm-rows")
        unregister = get_bus().on_alarm_notices(self.pending.extend)
        context.client.on_delete(unregister)
        ui.timer(REFRESH_SECONDS, self.apply, immediate=False)

    async def load(self) -> None:
        # Filters change faster than a query answers: only the newest load may draw, or a slower
        # earlier one would bring back the rows a later filter removed.
        self.loads = generation = self.loads + 1
        try:
            async with db.session_scope() as session:
                found, total = await alarms.list_alarms(
                    session=session, state=self.filters.state, limit=LIST_LIMIT, **self.filters.query()
                )
        except Exception as exc:
            notify_failure(exc)
            return
        if generation != self.loads:
            return
        self.pending.clear()
        self.alarms = {alarm.id: alarm for alarm in found}
        self.total = total
        self.render()

    def apply(self) -> None:
        """Bus notices since the last tick: update, add or drop the alarms they carry."""
        if not self.pending:
            return
        notices, self.pending[:] = list(self.pending), []
        for notice in notices:
            alarm = notice.alarm
            known = alarm.id in self.alarms
            if self.filters.matches(alarm):
                self.total += 0 if known else 1
                self.alarms[alarm.id] = alarm
            elif known:
                del self.alarms[alarm.id]
                self.total = max(0, self.total - 1)
        self.render()

    def render(self) -> None:
        self.count.set_text(_("Alarms: {n}").format(n=format_integer(self.total)))
        self.rows.clear()
        with self.rows:
            if not self.alarms:
                ui.label(_("No alarms match the filters.")).classes("text-grey-7").mark("no-alarms")
                return
            for alarm in sorted(self.alarms.values(), key=_active_first):
                self.row(alarm)

    def row(self, alarm: AlarmOut) -> None:
        key = theme.key("alarm", alarm.id)
        acked = alarm.acknowledged_at is not None
        with (
            ui.card()
            .classes("w-full p-2")
            .style(f"border-left: 8px solid {theme.SEVERITY_COLOURS.get(alarm.severity, '#757575')}")
            .mark(key, alarm.state, "acknowledged" if acked else "unacknowledged")
            .props(theme.testid(key)),
            ui.row().classes("w-full items-center gap-x-6 gap-y-1"),
        ):
            _severity_badge(alarm.severity)
            ui.link(alarm.device_name, f"/devices/{alarm.device_id}").classes("font-bold min-w-[10rem]")
            ui.label(_(theme.ALARM_KIND_LABELS.get(alarm.kind, alarm.kind))).classes("min-w-[6rem]")
            ui.label(_(theme.ALARM_STATE_LABELS.get(alarm.state, alarm.state))).mark("state")
            _field(_("Since"), _when(alarm.raised_at))
            if alarm.cleared_at is not None:
                _field(_("Cleared"), _when(alarm.cleared_at))
            _field(_("Value"), _number(alarm.value))
            _field(_("Peak"), _number(alarm.peak_value))
            ui.space()
            if acked:
                with ui.column().classes("gap-0"):
                    ui.label(_("Acknowledged by {user}").format(user=alarm.acknowledged_by or "—")).classes(
                        "text-sm"
                    ).mark("acknowledged-by")
                    ui.label(_when(alarm.acknowledged_at)).classes("text-xs text-grey-7")
                    if alarm.comment:
                        ui.label(alarm.comment).classes("text-xs italic").mark("ack-comment-text")
            else:
                ui.button(_("Acknowledge"), icon="done", on_click=lambda a=alarm: self.ask_one(a)).props(
                    "outline"
                ).mark("ack").props(theme.testid(theme.key("ack", alarm.id)))

    def ask_one(self, alarm: AlarmOut, after: Callable[[], Awaitable[None]] | None = None) -> None:
        async def acknowledge(comment: str | None) -> bool:
            try:
                user = await acting_user()
                async with db.session_scope() as session:
                    done = await alarms.acknowledge(
                        session=session, alarm_id=alarm.id, username=user.username, comment=comment
                    )
            except DDMSError as exc:
                notify_error(exc)
                return False
            self._put(done)
            notify_done(_("Alarm acknowledged"))
            if after is not None:
                await after()
            return True

        acknowledge_dialog(
            _("Acknowledge the alarm of {device}").format(device=alarm.device_name), acknowledge
        )

    def ask_all(self) -> None:
        device_id = uuid.UUID(self.filters.device) if self.filters.device else None

        async def acknowledge(comment: str | None) -> bool:
            try:
                user = await acting_user()
                async with db.session_scope() as session:
                    count = await alarms.acknowledge_all(
                        session=session, username=user.username, device_id=device_id, comment=comment
                    )
            except DDMSError as exc:
                notify_error(exc)
                return False
            notify_done(_("{n} alarms acknowledged").format(n=format_integer(count)))
            await self.load()
            return True

        question = (
            _("Acknowledge every active alarm")
            if device_id is None
            else _("Acknowledge this device's alarms")
        )
        acknowledge_dialog(question, acknowledge, marker="ack-all-dialog")

    def _put(self, alarm: AlarmOut) -> None:
        if self.filters.matches(alarm):
            self.alarms[alarm.id] = alarm
        else:
            self.alarms.pop(alarm.id, None)
        self.render()


def _field(label: str, value: str) -> None:
    with ui.column().classes("gap-0"):
        ui.label(label).classes("text-xs text-grey-7")
        ui.label(value).classes("text-body2")


class History:
    """Cleared alarms in a time range (same filters), with CSV export of the whole range."""

    def __init__(self, filters: Filters, active: AlarmList) -> None:
        self.filters = filters
        self.active = active
        with ui.row().classes("w-full items-center justify-between gap-2"):
            ui.label(_("History of cleared alarms")).classes("text-h6")
            ui.button(_("Export CSV"), icon="download", on_click=self.export).mark("export-alarms")
        self.range = TimeRange(self.load)
        self.info = ui.label().classes("text-xs text-grey-7").mark("history-info")
        self.rows = ui.column().classes("w-full gap-1").mark("history-rows")

    async def load(self) -> None:
        start, end = self.range.bounds
        try:
            async with db.session_scope() as session:
                found, total = await alarms.list_alarms(
                    session=session,
                    state="cleared",
                    since=start,
                    until=end,
                    limit=HISTORY_LIMIT,
                    **self.filters.query(),
                )
        except Exception as exc:
            notify_failure(exc)
            return
        self.info.set_text(
            _("{shown} of {total} cleared alarms (the CSV has them all)").format(
                shown=format_integer(len(found)), total=format_integer(total)
            )
        )
        self.rows.clear()
        with self.rows:
            for alarm in found:
                key = theme.key("history", alarm.id)
                with (
                    ui.row()
                    .classes("w-full items-center gap-x-6 border-b border-gray-300 py-1")
                    .mark(key)
                    .props(theme.testid(key))
                ):
                    _severity_badge(alarm.severity)
                    ui.label(alarm.device_name).classes("font-bold min-w-[10rem]")
                    ui.label(_(theme.ALARM_KIND_LABELS.get(alarm.kind, alarm.kind)))
                    _field(_("Since"), _when(alarm.raised_at))
                    _field(_("Cleared"), _when(alarm.cleared_at))
                    _field(_("Peak"), _number(alarm.peak_value))
                    if alarm.acknowledged_at is not None:
                        _field(_("Acknowledged by"), alarm.acknowledged_by or "—")
                    else:  # cleared, still latched on the cards until someone acknowledges it
                        ui.button(
                            _("Acknowledge"),
                            icon="done",
                            on_click=lambda a=alarm: self.active.ask_one(a, after=self.load),
                        ).props("outline dense").mark("ack").props(theme.testid(theme.key("ack", alarm.id)))

    def export(self) -> None:
        start, end = self.range.bounds
        query = {"start_time": start.isoformat(), "end_time": end.isoformat()}
        query |= {k: str(v) for k, v in self.filters.query().items() if v is not None}
        ui.download.from_url(f"/ui/export/alarms?{urlencode(query)}")


@ui.page("/alarms")
@retrying
async def alarms_page(request: Request) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    async with db.session_scope() as session:
        device_rows = await devices.list_devices(session=session)
        group_rows = await groups.list_groups(session=session)
    device_options = {"": _("All devices")} | {str(d.id): d.name for d in device_rows}
    group_options = {"": _("All groups")} | {str(g.id): g.name for g in group_rows}
    with frame(_("Alarms"), user):

        async def reload() -> None:
            await active.load()
            await history.load()

        filters = Filters(device_options, group_options, reload)
        with ui.card().classes("w-full"):
            active = AlarmList(filters)
        with ui.card().classes("w-full"):
            history = History(filters, active)
    await active.load()
    await history.load()
    return None
