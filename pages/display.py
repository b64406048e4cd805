"""/display and /display/{group_id}: the wall display, large live tiles.

Readable from across a room (5 m) on a screen without keyboard: one tile per device whose whole
background is its level's colour, as many as fit the screen with a readable value; more devices page
through on a timer (``?rotate=N`` seconds, default 10), alarms first (pages/components/wall.py).
Values are pushed from the bus. After a server restart NiceGUI's client reconnects and reloads the
page, so a screen left on this address recovers by itself; the tab can go full-screen with a button.

Who may look follows PUBLIC_STREAM, like /api/devices/stream: public when true; otherwise a signed-in
session (any role) or a display link the owner made (``?token=...``; wall screens have no keyboard).
An admitted display is re-checked every minute and at once when its link is revoked or its user's
sessions end (ddms/services/stream_access.py); it then reloads into the sign-in or refusal page.
"""

from __future__ import annotations

import uuid

from nicegui import context, ui
from starlette.responses import RedirectResponse

from ddms import db
from ddms.errors import Forbidden, NotFound, Unauthorized
from ddms.i18n import LANGUAGES, _, format_time, translate_error
from ddms.models import utcnow
from ddms.services import devices, groups, stream_access
from pages.components import wall_layout
from pages.components.live import reload_on_device_changes
from pages.components.retry import retrying
from pages.components.wall import Wall
from pages.layout import apply_theme, connection_indicator, login_url, to_login
from pages.session import (
    app_title,
    browser_timezone,
    current_user,
    language_url,
    load_app_title,
    settings,
)

RECHECK = stream_access.RecheckPolicy()  # tests shorten it
CHECK_SECONDS = 1.0  # how often the page asks whether a re-check is due (cheap, in memory)


Admission = stream_access.Watch | RedirectResponse | str | None


async def _admit(group_id: uuid.UUID | None, token: str | None, path: str) -> Admission:
    """None: public; a Watch: admitted (by link or session); a redirect to sign in; or the refusal reason."""
    if settings().public_stream:
        return None
    if token:
        try:
            async with db.session_scope() as session:
                grant, allowed = await stream_access.display_grant(
                    session=session, secret=token, group_id=group_id, page=True
                )
        except (Unauthorized, Forbidden) as exc:
            return translate_error(exc)
        return stream_access.Watch(grant, allowed, RECHECK)
    user = await current_user()
    if user is None:
        return to_login(path)
    return stream_access.Watch(stream_access.SessionGrant(user.id, user.token_version), None, RECHECK)


def _keep_checking(watch: stream_access.Watch) -> None:
    """Re-check the admission while the screen stays open; when it fails, reload (sign-in or refusal)."""
    watch.open()
    context.client.on_delete(watch.close)

    async def check() -> None:
        if watch.due() and not await watch.recheck():
            timer.deactivate()
            ui.navigate.reload()

    timer = ui.timer(CHECK_SECONDS, check)


def _refused(reason: str, path: str) -> None:
    """What a screen with a revoked or wrong link shows (a keyboardless screen cannot sign in)."""
    apply_theme()
    ui.query("body").classes("bg-black")
    ui.page_title(_("This display needs a display link"))
    with ui.column().classes("absolute-center items-center text-white gap-3").mark("display-refused"):
        ui.icon("link_off", size="4rem")
        ui.label(_("This display needs a display link")).classes("text-h4")
        ui.label(reason).classes("text-h6 text-grey-5").mark("display-refused-reason")
        ui.label(_("Ask the owner for a new link (Settings, Display links), or sign in.")).classes("text-h6")
        ui.link(_("Sign in"), login_url(path)).classes("text-h6 text-white").mark("display-sign-in")


async def _wall(
    group_id: str | None, token: str | None, rotate: str | None, path: str
) -> RedirectResponse | None:
    seconds = wall_layout.rotate_seconds(rotate)
    try:
        group_uuid = uuid.UUID(group_id) if group_id is not None else None
    except ValueError:  # no group can have this id: "Group not found", which shows no data
        await _show(group_id, seconds)
        return None
    admission = await _admit(group_uuid, token, path)
    if isinstance(admission, RedirectResponse):
        return admission
    if isinstance(admission, str):
        _refused(admission, path)
        return None
    if admission is not None:
        _keep_checking(admission)
    await _show(group_id, seconds)
    return None


async def _show(group_id: str | None, rotate: int) -> None:
    await load_app_title()
    apply_theme()
    ui.query("body").classes("bg-black")
    title = app_title()
    try:
        async with db.session_scope() as session:
            if group_id is None:
                rows = await devices.list_devices(session=session)
            else:
                group = await groups.get_group(session=session, group_id=uuid.UUID(group_id))
                rows = await groups.group_devices(session=session, group_id=group.id)
                title = f"{title} · {group.name}"
    except (ValueError, NotFound):
        ui.label(_("Group not found")).classes("text-h4 text-white").mark("not-found")
        return
    ui.page_title(title)
    fullscreen = ui.fullscreen()
    with ui.element("div").classes("ddms-wall").mark("wall"):
        with ui.element("div").classes("ddms-wall-head"):
            ui.label(title).classes("ddms-wall-title").mark("display-title")
            page = ui.label().classes("ddms-wall-page").mark("page-indicator")
            ui.space()
            clock = ui.label(_clock()).classes("ddms-wall-clock").mark("clock")
            connection_indicator()
            here = "/display" if group_id is None else f"/display/{group_id}"
            for code, (name, _locale) in LANGUAGES.items():
                ui.button(name, on_click=lambda code=code: ui.navigate.to(language_url(code, here))).props(
                    "flat dense no-caps color=white"
                ).mark(f"language-{code}")
            ui.button(icon="fullscreen", on_click=fullscreen.toggle).props("flat round color=white").tooltip(
                _("Full screen")
            ).mark("fullscreen")
        Wall(rows, rotate=rotate, indicator=page)
    ui.timer(1.0, lambda: clock.set_text(_clock()))
    reload_on_device_changes()


def _clock() -> str:
    return format_time(utcnow(), browser_timezone())


@ui.page("/display")
@retrying
async def display_page(token: str | None = None, rotate: str | None = None) -> RedirectResponse | None:
    return await _wall(None, token, rotate, "/display")


@ui.page("/display/{group_id}")
@retrying
async def group_display_page(
    group_id: str, token: str | None = None, rotate: str | None = None
) -> RedirectResponse | None:
    return await _wall(group_id, token, rotate, f"/display/{group_id}")
