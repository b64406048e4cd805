"""The notification drawer (opened from the bell): the signed-in user's notifications.

The first page is read once when the page opens (``services.notifications``); after that new ones
arrive from the bus (``on_notifications``, already committed, each carrying its ``user_id``) and are
put at the top without asking the database again. Mark read, mark all read and dismiss go through
the service, which only touches the user's own notifications.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

from nicegui import context, ui

from ddms import db
from ddms.bus import get_bus
from ddms.errors import DDMSError
from ddms.i18n import N_, _, format_integer, format_moment
from ddms.models import utcnow
from ddms.schemas.alarms import NotificationOut
from ddms.services import notifications
from pages import theme
from pages.components.alarm_bell import SOUND_KEY
from pages.components.notice_text import message_text, title_text
from pages.layout import acting_user, notify_error
from pages.session import SessionUser, browser_timezone

PAGE_SIZE = 20
REFRESH_SECONDS = 0.5
TYPE_LABELS = {
    "device_offline": N_("Device offline"),
    "device_online": N_("Device back online"),
    "device_error": N_("Device error"),
    "threshold_warning": N_("Warning limit crossed"),
    "threshold_critical": N_("Critical limit crossed"),
    "threshold_cleared": N_("Value back to normal"),
    "system": N_("System"),
}
_COLOURS = theme.SEVERITY_COLOURS | {"info": theme.PRIMARY}


class NotificationDrawer:
    """A right-hand drawer listing the newest notifications, live."""

    def __init__(self, user: SessionUser, storage: MutableMapping[str, Any]) -> None:
        self.user = user
        self.storage = storage
        self.items: list[NotificationOut] = []
        self.unread = 0
        self.pending: list[NotificationOut] = []
        self.loaded = False
        with (
            ui.right_drawer(value=False)
            .props("bordered overlay width=360")
            .mark("notification-drawer")
            .props(theme.testid("notification-drawer")) as self.drawer
        ):
            with ui.row().classes("w-full items-center justify-between no-wrap"):
                ui.label(_("Notifications")).classes("text-h6")
                ui.button(icon="close", on_click=self.drawer.hide).props("flat round dense").mark(
                    "drawer-close"
                )
            with ui.row().classes("w-full items-center gap-2"):
                self.unread_label = ui.label().classes("text-sm text-grey-7").mark("unread-count")
                ui.space()
                ui.button(_("Mark all read"), icon="done_all", on_click=self.mark_all_read).props(
                    "flat dense"
                ).mark("mark-all-read").props(theme.testid("mark-all-read"))
            with ui.row().classes("w-full items-center gap-2"):
                ui.switch(
                    _("Sound for new critical alarms"),
                    value=bool(storage.get(SOUND_KEY, False)),
                    on_change=lambda event: storage.__setitem__(SOUND_KEY, bool(event.value)),
                ).mark("alarm-sound")
                ui.space()
                ui.link(_("All alarms"), "/alarms").mark("drawer-alarms-link")
            ui.separator()
            self.list = ui.column().classes("w-full gap-2").mark("notification-list")
        unregister = get_bus().on_notifications(self.note)
        context.client.on_delete(unregister)
        ui.timer(REFRESH_SECONDS, self.apply, immediate=False)

    async def toggle(self) -> None:
        """Open (reading the first page the first time: a page view alone asks nothing) or close."""
        if not self.loaded:
            await self.load()
        self.drawer.toggle()

    async def load(self) -> None:
        """The first page with the unread count, from the service."""
        try:
            async with db.session_scope() as session:
                page = await notifications.list_for_user(
                    session=session, user_id=self.user.id, limit=PAGE_SIZE
                )
        except DDMSError as exc:
            notify_error(exc)
            return
        self.items = list(page.notifications)
        self.unread = page.unread_count
        self.loaded = True
        self.render()

    def note(self, pushed: list[NotificationOut]) -> None:
        """Bus listener (publisher's context): keep this user's new notifications for the next tick."""
        self.pending.extend(item for item in pushed if item.user_id == self.user.id)

    def apply(self) -> None:
        if not self.pending:
            return
        new, self.pending = self.pending, []
        if not self.loaded:  # the first read will include them
            return
        known = {item.id for item in self.items}
        fresh = [item for item in reversed(new) if item.id not in known]
        self.items = (fresh + self.items)[:PAGE_SIZE]
        self.unread += sum(1 for item in fresh if item.read_at is None)
        self.render()

    def render(self) -> None:
        self.unread_label.set_text(_("{n} unread").format(n=format_integer(self.unread)))
        self.list.clear()
        with self.list:
            if not self.items:
                ui.label(_("No notifications.")).classes("text-grey-7").mark("no-notifications")
            for item in self.items:
                self.entry(item)

    def entry(self, item: NotificationOut) -> None:
        colour = _COLOURS.get(item.severity, theme.PRIMARY)
        unread = item.read_at is None
        key = theme.key("notification", item.id)
        with (
            ui.card()
            .classes("w-full gap-1 p-2" + (" bg-blue-1" if unread else ""))
            .style(f"border-left: 6px solid {colour}")
            .mark(key, "unread" if unread else "read")
            .props(theme.testid(key))
        ):
            with ui.row().classes("w-full items-center no-wrap gap-1"):
                ui.label(_(TYPE_LABELS.get(item.type, TYPE_LABELS["system"]))).classes("font-bold grow")
                if unread:
                    ui.button(icon="mark_email_read", on_click=lambda i=item.id: self.mark_read(i)).props(
                        "flat round dense"
                    ).tooltip(_("Mark read")).mark("mark-read")
                ui.button(icon="delete_outline", on_click=lambda i=item.id: self.dismiss(i)).props(
                    "flat round dense"
                ).tooltip(_("Dismiss")).mark("dismiss")
            ui.label(title_text(item)).classes("text-body2").mark("notification-title")
            if item.message:
                ui.label(message_text(item)).classes("text-caption")
            ui.label(format_moment(item.created_at, browser_timezone())).classes("text-xs text-grey-7")

    async def _act(self, action: str, notification_id: uuid.UUID | None = None) -> bool:
        try:
            user = await acting_user()
            async with db.session_scope() as session:
                if action == "read" and notification_id is not None:
                    await notifications.mark_read(
                        session=session, user_id=user.id, notification_id=notification_id
                    )
                elif action == "dismiss" and notification_id is not None:
                    await notifications.dismiss(
                        session=session, user_id=user.id, notification_id=notification_id
                    )
                else:
                    await notifications.mark_all_read(session=session, user_id=user.id)
        except DDMSError as exc:
            notify_error(exc)
            return False
        return True

    async def mark_read(self, notification_id: uuid.UUID) -> None:
        if await self._act("read", notification_id):
            now = utcnow()
            for index, item in enumerate(self.items):
                if item.id == notification_id and item.read_at is None:
                    self.items[index] = item.model_copy(update={"read_at": now})
                    self.unread = max(0, self.unread - 1)
            self.render()

    async def mark_all_read(self) -> None:
        if await self._act("all"):
            now = utcnow()
            self.items = [
                item if item.read_at else item.model_copy(update={"read_at": now}) for item in self.items
            ]
            self.unread = 0
            self.render()

    async def dismiss(self, notification_id: uuid.UUID) -> None:
        if await self._act("dismiss", notification_id):
            gone = [item for item in self.items if item.id == notification_id]
            self.items = [item for item in self.items if item.id != notification_id]
            self.unread = max(0, self.unread - sum(1 for item in gone if item.read_at is None))
            self.render()
