"""/settings (owner): the configuration singleton (backups, retention, stream interval, app title),
the DDMS instances on this database, the display links of wall screens and the notification channels
of alarm events."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.errors import DDMSError
from ddms.i18n import FIELD_LABELS, N_, _, format_moment, translate_error
from ddms.schemas.system import ConfigUpdate
from ddms.services import backup, system
from pages.components.channels import channel_section
from pages.components.display_links import display_links
from pages.components.forms import field_errors, whole
from pages.components.instances import instances_section
from pages.components.retry import retrying
from pages.layout import acting_user, forbidden, frame, is_owner, notify_done, notify_error, require_user
from pages.session import browser_timezone, settings

HINTS = {
    "app_title": N_("Shown in the header and the browser tab"),
    "backup_schedule": N_("Five fields, e.g. 0 2 * * * for 02:00 every day"),
    "sse_interval": N_("How often the SSE stream sends a snapshot"),
}
FIELDS = {
    name: (FIELD_LABELS[name], HINTS.get(name, ""))
    for name in (
        "app_title",
        "backup_enabled",
        "backup_schedule",
        "backup_retention_count",
        "default_retention_days",
        "sse_interval",
    )
}


class SettingsForm:
    def __init__(self, config: Any) -> None:
        self.inputs: dict[str, Any] = {}
        with ui.card().classes("w-full max-w-2xl gap-3").mark("settings-form"):
            for name, (label, hint) in FIELDS.items():
                value = getattr(config, name)
                if isinstance(value, bool):
                    element: Any = ui.switch(_(label), value=value)
                elif isinstance(value, int | float):
                    element = ui.number(_(label), value=value).props("outlined")
                else:
                    element = ui.input(_(label), value=value).props("outlined")
                if hint and not isinstance(value, bool):
                    element.props["hint"] = _(hint)  # a value, never parsed as a props string
                element.classes("w-full").mark(f"field-{name}")
                if not isinstance(value, bool):
                    element.on("blur", lambda name=name: self.check(name))
                self.inputs[name] = element
            self.button = ui.button(_("Save"), icon="save", on_click=self.save).mark("save")

    def body(self) -> dict[str, Any]:
        body = {name: whole(element.value) for name, element in self.inputs.items()}
        if isinstance(body["app_title"], str):
            body["app_title"] = body["app_title"].strip()
        return body

    def check(self, name: str) -> bool:
        error = field_errors(ConfigUpdate, {name: self.body()[name]}).get(name)
        if self.body()[name] is None:
            error = _("Required")
        self.inputs[name].error = error
        return error is None

    async def save(self) -> None:
        if not all([self.check(name) for name in self.inputs if name != "backup_enabled"]):  # noqa: C419
            return
        self.button.props("loading")
        try:
            await acting_user(is_owner)
            async with db.session_scope() as session:
                await system.update_config(session=session, data=ConfigUpdate.model_validate(self.body()))
        except DDMSError as exc:
            if exc.field in self.inputs:
                self.inputs[exc.field].error = translate_error(exc)
            else:
                notify_error(exc)
            return
        finally:
            self.button.props(remove="loading")
        notify_done(_("Settings saved"))


@ui.page("/settings")
@retrying
async def settings_page(request: Request) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    if not user.is_owner:
        forbidden(user, _("Settings"))
        return None
    async with db.session_scope() as session:
        config = await system.get_config(session=session)
    with frame(_("Settings"), user):
        SettingsForm(config)
        backup_status()
        await instances_section()
        await display_links(str(request.base_url))
        await channel_section()
    return None


def backup_status() -> None:
    """What the last backup did, or why backups cannot run here (e.g. pg_dump missing)."""
    problem = backup.problem(settings())
    last = backup.last_status()
    with ui.card().classes("w-full max-w-2xl gap-1").mark("backup-status"):
        ui.label(_("Backups")).classes("text-subtitle1 font-bold")
        ui.label(_("Saved in {folder}").format(folder=backup.backup_dir(settings()))).classes("text-grey-8")
        if last.at is not None and last.error is None:
            when = format_moment(last.at, browser_timezone())
            ui.label(_("Last backup: {when}").format(when=when)).mark("backup-last")
        elif problem is None:
            ui.label(_("No backup has run since the server started")).mark("backup-last")
        if problem is not None:
            ui.label(translate_error(problem)).classes("text-negative").mark("backup-problem")
