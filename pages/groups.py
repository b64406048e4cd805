"""/groups: list, create, rename, delete and membership; /groups/{id}: the group's dashboard and history."""

from __future__ import annotations

import uuid
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.bus import get_bus
from ddms.errors import DDMSError, NotFound
from ddms.i18n import _, format_integer, translate_error
from ddms.schemas.devices import GroupCreate, GroupUpdate
from ddms.services import devices, groups
from pages import theme
from pages.components.alarm_history import load_episodes
from pages.components.chart_window import ChartWindow
from pages.components.device_card import DeviceCard
from pages.components.dialogs import confirm_delete
from pages.components.forms import field_errors
from pages.components.history import recent_trends
from pages.components.live import DeviceState, watch_latest
from pages.components.multi_history import MultiHistory
from pages.components.retry import retrying
from pages.components.time_range import from_query
from pages.dashboard import SummaryBar
from pages.layout import (
    acting_user,
    busy,
    can_edit,
    frame,
    notify_done,
    notify_error,
    require_user,
)


async def editor() -> None:
    await acting_user(can_edit)


async def group_dialog(group: Any | None, members: list[uuid.UUID]) -> None:
    """Create or edit a group: name, description and its devices (the membership as a whole)."""
    async with db.session_scope() as session:
        all_devices = await devices.list_devices(session=session)
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-xl").mark("group-dialog"):
        ui.label(_("Edit group") if group else _("Add group")).classes("text-h6")
        name = (
            ui.input(_("Name"), value=group.name if group else "")
            .props("outlined")
            .classes("w-full")
            .mark("field-name")
        )
        description = (
            ui.textarea(_("Description"), value=(group.description or "") if group else "")
            .props("outlined autogrow")
            .classes("w-full")
            .mark("field-description")
        )
        chosen = (
            ui.select(
                {str(d.id): d.name for d in all_devices},
                multiple=True,
                label=_("Devices"),
                value=[str(m) for m in members],
            )
            .props("outlined use-chips")
            .classes("w-full")
            .mark("field-devices")
        )

        async def save() -> None:
            body = {
                "name": (name.value or "").strip(),
                "description": (description.value or "").strip() or None,
                "device_ids": [uuid.UUID(v) for v in chosen.value or []],
            }
            errors = field_errors(GroupCreate, body)
            name.error, description.error = errors.get("name"), errors.get("description")
            if errors:
                return
            try:
                await editor()
                async with db.session_scope() as session:
                    if group is None:
                        await groups.create_group(session=session, data=GroupCreate.model_validate(body))
                    else:
                        await groups.update_group(
                            session=session, group_id=group.id, data=GroupUpdate.model_validate(body)
                        )
            except DDMSError as exc:
                if exc.field == "name":
                    name.error = translate_error(exc)
                else:
                    notify_error(exc)
                return
            dialog.close()
            notify_done(_("Group '{name}' saved").format(name=body["name"]))
            ui.navigate.reload()

        with ui.row().classes("w-full justify-end"):
            ui.button(_("Cancel"), on_click=dialog.close).props("flat")
            ui.button(_("Save"), on_click=busy(save)).mark("save")
    dialog.open()


def delete_group_dialog(group: Any) -> None:
    async def delete() -> None:
        await editor()
        async with db.session_scope() as session:
            await groups.delete_group(session=session, group_id=group.id)

    confirm_delete(
        _("Delete group '{name}'? Its devices are kept.").format(name=group.name),
        delete,
        _("Group '{name}' deleted").format(name=group.name),
        lambda: ui.navigate.to("/groups"),
    )


async def members_of(group_id: uuid.UUID) -> list[uuid.UUID]:
    async with db.session_scope() as session:
        return [d.id for d in await groups.group_devices(session=session, group_id=group_id)]


@ui.page("/groups")
@retrying
async def groups_page(request: Request) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    async with db.session_scope() as session:
        rows = await groups.list_groups(session=session)
    with frame(_("Groups"), user):
        if user.can_edit_devices:
            ui.button(_("Add group"), icon="add", on_click=lambda: group_dialog(None, [])).mark("add-group")
        if not rows:
            ui.label(_("No groups yet.")).classes("text-grey-7").mark("empty")
        with ui.grid().classes("w-full gap-4 grid-cols-1 md:grid-cols-2 xl:grid-cols-3"):
            for group in rows:
                with ui.card().classes("w-full").mark(theme.key("group", group.id)):
                    ui.link(group.name, f"/groups/{group.id}").classes("text-h6")
                    if group.description:
                        ui.label(group.description).classes("text-sm text-grey-7")
                    ui.label(_("{n} devices").format(n=format_integer(group.device_count))).classes("text-sm")
                    if user.can_edit_devices:
                        with ui.row().classes("gap-2"):
                            ui.button(_("Edit"), icon="edit", on_click=lambda g=group: edit(g)).props(
                                "outline"
                            ).mark("edit")
                            ui.button(
                                _("Delete"),
                                icon="delete",
                                color="negative",
                                on_click=lambda g=group: delete_group_dialog(g),
                            ).props("outline").mark("delete")
    return None


async def edit(group: Any) -> None:
    await group_dialog(group, await members_of(group.id))


@ui.page("/groups/{group_id}")
@retrying
async def group_page(request: Request, group_id: str) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    try:
        async with db.session_scope() as session:
            group = await groups.get_group(session=session, group_id=uuid.UUID(group_id))
            members = await groups.group_devices(session=session, group_id=group.id)
    except (ValueError, NotFound):
        with frame(_("Group"), user):
            ui.label(_("Group not found")).classes("text-negative").mark("not-found")
        return None
    trends = await recent_trends([d.id for d in members])
    with frame(group.name, user):
        if group.description:
            ui.label(group.description).classes("text-body1 text-grey-8")
        if user.can_edit_devices:
            with ui.row().classes("gap-2"):
                ui.button(_("Edit"), icon="edit", on_click=lambda: edit(group)).mark("edit")
                ui.button(
                    _("Delete"), icon="delete", color="negative", on_click=lambda: delete_group_dialog(group)
                ).props("outline").mark("delete")
        summary = SummaryBar()
        bus = get_bus()
        with ui.grid().classes("w-full gap-4 grid-cols-1 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-4"):
            cards = {d.id: DeviceCard(d, bus.latest(d.id), trends.get(d.id, [])) for d in members}
        if not members:
            ui.label(_("This group has no devices yet.")).classes("text-grey-7").mark("empty")
        summary.show(list(cards.values()))

        def on_state(state: DeviceState) -> None:
            cards[state.device_id].update(state)

        watch_latest(on_state, set(cards), after=lambda: summary.show(list(cards.values())))
        with ui.card().classes("w-full"):
            ui.label(_("History")).classes("text-h6")
            preset, custom = from_query(request.query_params)
            history = MultiHistory(
                members,
                lambda on_range, on_zoom: ChartWindow(
                    f"/groups/{group.id}", f"/ui/export/group/{group.id}", on_range, on_zoom, preset, custom
                ),
                lambda start, end: load_episodes(None, start, end, group_id=group.id),
            )
    await history.reload()
    return None
