"""The owner's "Display links" section of /settings: create a link for a wall screen, list, revoke.

A wall screen has no keyboard to sign in with; when the live view is not public (PUBLIC_STREAM=false)
the owner makes a named link here and opens it once in the screen's browser. The link (with its
secret) is shown once, right after it is made; the list shows names, scope and last use only.
Every action re-checks the owner's role in the service call path (``acting_user``).
"""

from __future__ import annotations

import uuid
from typing import Any

from nicegui import ui

from ddms import db
from ddms.errors import DDMSError
from ddms.i18n import _, format_datetime, translate_error
from ddms.schemas.display_tokens import DisplayTokenCreate, DisplayTokenPublic
from ddms.services import display_tokens, groups
from pages.components.dialogs import confirm_delete
from pages.components.forms import field_errors
from pages.layout import acting_user, busy, is_owner, notify_error
from pages.session import browser_timezone, settings


class DisplayLinks:
    """Create form, the link shown once, and the list; ``base_url`` is the address the owner uses."""

    def __init__(self, base_url: str, group_options: dict[str, str]) -> None:
        self.base_url = base_url
        with ui.card().classes("w-full max-w-2xl gap-2").mark("display-links"):
            ui.label(_("Display links")).classes("text-subtitle1 font-bold")
            if settings().public_stream:
                note = _("The wall display is public now; links are needed once it is made private.")
            else:
                note = _(
                    "The wall display needs a sign-in or a display link: open a link once on the screen."
                )
            ui.label(note).classes("text-grey-8").mark("display-links-note")
            with ui.row().classes("w-full items-start gap-2"):
                self.name = (
                    ui.input(_("Screen name"))
                    .props("outlined dense")
                    .classes("grow")
                    .mark("display-link-name")
                )
                self.group = (
                    ui.select({"": _("All devices")} | group_options, value="", label=_("Devices shown"))
                    .props("outlined dense")
                    .classes("w-56")
                    .mark("display-link-group")
                )
                ui.button(_("Create link"), icon="add_link", on_click=busy(self.create)).mark(
                    "create-display-link"
                )
            self.issued = ui.column().classes("w-full gap-1")
            self.rows = ui.column().classes("w-full gap-1")

    async def create(self) -> None:
        body: dict[str, Any] = {"name": (self.name.value or "").strip(), "group_id": self.group.value or None}
        self.name.error = field_errors(DisplayTokenCreate, body).get("name")
        if self.name.error:
            return
        try:
            await acting_user(is_owner)
            async with db.session_scope() as session:
                issued = await display_tokens.create_token(
                    session=session, data=DisplayTokenCreate.model_validate(body)
                )
        except DDMSError as exc:
            if exc.field == "name":  # a taken name goes next to the field
                self.name.error = translate_error(exc)
            else:
                notify_error(exc)
            return
        self.name.value = ""
        self.show_once(display_tokens.link(self.base_url, issued.token, issued.secret), issued.token.name)
        self.show.refresh()

    def show_once(self, url: str, name: str) -> None:
        """The new link with a copy button; it is not kept anywhere on the page after a reload."""
        self.issued.clear()
        with self.issued, ui.card().classes("w-full bg-blue-1").mark("display-link-issued"):
            ui.label(_("Link for '{name}': copy it now, it is shown only once.").format(name=name)).classes(
                "font-bold"
            )
            field = (
                ui.input(value=url)
                .props("outlined dense readonly")
                .classes("w-full")
                .mark("display-link-url")
            )

            def copy() -> None:
                ui.clipboard.write(field.value)
                ui.notify(_("Link copied"), type="positive")

            with ui.row().classes("gap-2"):
                ui.button(_("Copy"), icon="content_copy", on_click=copy).mark("copy-display-link")
                ui.button(_("Done"), on_click=self.issued.clear).props("flat").mark("hide-display-link")

    def row(self, token: DisplayTokenPublic) -> None:
        zone = browser_timezone()
        with ui.row().classes("w-full items-center gap-3").mark(f"display-link-{token.id}"):
            with ui.column().classes("gap-0 grow"):
                ui.label(token.name).classes("font-bold")
                scope = token.group_name if token.group_name is not None else _("All devices")
                ui.label(scope).classes("text-sm")
                used = (
                    _("Last used: {when}").format(when=format_datetime(token.last_used_at, zone))
                    if token.last_used_at
                    else _("Never used")
                )
                created = _("Created: {when}").format(when=format_datetime(token.created_at, zone))
                ui.label(f"{created} · {used}").classes("text-xs text-grey-7")
            ui.button(
                _("Revoke"),
                icon="link_off",
                color="negative",
                on_click=lambda: self.revoke(token.id, token.name),
            ).props("outline").mark("revoke-display-link")

    def revoke(self, token_id: uuid.UUID, name: str) -> None:
        async def delete() -> None:
            await acting_user(is_owner)
            async with db.session_scope() as session:
                await display_tokens.revoke_token(session=session, token_id=token_id)

        question = _("Revoke the display link '{name}'? Screens using it stop at once.").format(name=name)
        confirm_delete(
            question, delete, _("Display link '{name}' revoked").format(name=name), self.show.refresh
        )

    @ui.refreshable_method
    async def show(self) -> None:
        async with db.session_scope() as session:
            tokens = await display_tokens.list_tokens(session=session)
        if not tokens:
            ui.label(_("No display links yet.")).classes("text-grey-7").mark("no-display-links")
        for token in tokens:
            self.row(token)


async def display_links(base_url: str) -> None:
    """The section, with the groups a link can be bound to."""
    async with db.session_scope() as session:
        options = {str(group.id): group.name for group in await groups.list_groups(session=session)}
    view = DisplayLinks(base_url, options)
    with view.rows:
        await view.show()
