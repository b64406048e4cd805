"""The owner's "Notification channels" section of /settings: webhooks and e-mail for alarm events.

The owner adds, edits, enables/disables and deletes channels and sends a test event; each row shows
the channel's delivery health (pending and failed deliveries, the last error). Secrets (webhook
secret, SMTP password) are write-only here as in the API: the edit form never holds them, an empty
secret field keeps the stored one ("unchanged"). Every action re-checks the owner's role
(``acting_user``) before the service call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from pydantic import BaseModel, ValidationError

from ddms import db
from ddms.errors import DDMSError, InvalidValue
from ddms.i18n import N_, _, format_datetime, translate_error
from ddms.models import ChannelType, SmtpTls
from ddms.schemas.channels import ChannelCreate, ChannelPublic, ChannelUpdate
from ddms.services import channels, delivery
from pages import theme
from pages.components.dialogs import confirm_delete
from pages.components.forms import field_errors, whole
from pages.layout import acting_user, busy, is_owner, notify_done, notify_error
from pages.session import browser_timezone

SEVERITIES = {
    "warning": N_("Warning and worse"),
    "error": N_("Error and critical"),
    "critical": N_("Critical only"),
}
TLS_MODES = {"none": N_("None (plain)"), "starttls": N_("STARTTLS"), "tls": N_("TLS")}
TYPE_LABELS = {"webhook": N_("Webhook"), "email": N_("E-mail")}


def rule_fields(schema: type[BaseModel], body: dict[str, Any]) -> list[str]:
    """The fields a whole-channel rule names (its code's ``fields`` parameter), in its order."""
    try:
        schema.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, InvalidValue) and "fields" in cause.params:
                return str(cause.params["fields"]).split(", ")
    return []


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | secret | int | select | list
    options: dict[str, str] | None = None


FORM_FIELDS: dict[ChannelType, list[Field]] = {
    ChannelType.WEBHOOK: [
        Field("url", N_("URL")),
        Field("secret", N_("Signing secret"), "secret"),
    ],
    ChannelType.EMAIL: [
        Field("smtp_host", N_("SMTP server")),
        Field("smtp_port", N_("SMTP port"), "int"),
        Field("smtp_tls", N_("Encryption"), "select", TLS_MODES),
        Field("smtp_username", N_("SMTP user name")),
        Field("smtp_password", N_("SMTP password"), "secret"),
        Field("email_from", N_("From address")),
        Field("email_to", N_("Recipients (comma-separated)"), "list"),
    ],
}


class ChannelForm:
    """The add/edit dialog of one channel type; ``channel`` is None when adding."""

    def __init__(self, kind: ChannelType, channel: ChannelPublic | None, saved: Callable[[], object]) -> None:
        self.kind, self.channel, self.saved = kind, channel, saved
        self.inputs: dict[str, Any] = {}
        with ui.dialog() as self.dialog, ui.card().classes("w-[32rem] gap-2").mark("channel-dialog"):
            title = (
                _("Edit channel") if channel else _("Add {kind} channel").format(kind=_(TYPE_LABELS[kind]))
            )
            ui.label(title).classes("text-h6")
            self.inputs["name"] = self._text("name", _("Name"), channel.name if channel else "")
            for field in FORM_FIELDS[kind]:
                self.inputs[field.name] = self._field(field)
            self.inputs["min_severity"] = (
                ui.select(
                    {key: _(label) for key, label in SEVERITIES.items()},
                    value=channel.min_severity if channel else "warning",
                    label=_("Send alarms of"),
                )
                .props("outlined dense")
                .classes("w-full")
                .mark("field-min_severity")
            )
            self.inputs["enabled"] = ui.switch(_("Enabled"), value=channel.enabled if channel else True).mark(
                "field-enabled"
            )
            with ui.row().classes("w-full justify-end"):
                ui.button(_("Cancel"), on_click=self.dialog.close).props("flat")
                ui.button(_("Save"), icon="save", on_click=busy(self.save)).mark("save-channel")
        # Closed, the dialog is deleted: a typed secret must not linger in the page.
        self.dialog.on_value_change(lambda event: None if event.value else self.dialog.delete())
        self.dialog.open()

    def _text(self, name: str, label: str, value: Any) -> Any:
        return ui.input(label, value=value).props("outlined dense").classes("w-full").mark(f"field-{name}")

    def _field(self, field: Field) -> Any:
        stored = getattr(self.channel, field.name, None) if self.channel else None
        if field.kind == "secret":
            element = ui.input(_(field.label), password=True, password_toggle_button=True)
            if self.channel is not None:
                element.props["placeholder"] = _("unchanged")  # a value, never parsed as props
            return element.props("outlined dense").classes("w-full").mark(f"field-{field.name}")
        if field.kind == "int":
            number = ui.number(_(field.label), value=stored, format="%d")
            return number.props("outlined dense").classes("w-full").mark(f"field-{field.name}")
        if field.kind == "select":
            options = {key: _(label) for key, label in (field.options or {}).items()}
            select = ui.select(options, value=stored or SmtpTls.STARTTLS.value, label=_(field.label))
            return select.props("outlined dense").classes("w-full").mark(f"field-{field.name}")
        value = ", ".join(stored) if field.kind == "list" and stored else (stored or "")
        return self._text(field.name, _(field.label), value)

    def field_named(self, names: list[str]) -> str | None:
        """The first of the fields a channel rule names that this form shows."""
        return next((name for name in names if name in self.inputs), None)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, element in self.inputs.items():
            value = whole(element.value)
            if isinstance(value, str):
                value = value if name in ("secret", "smtp_password") else value.strip()
            if name == "email_to":
                value = [part.strip() for part in (value or "").split(",") if part.strip()]
            if value in ("", None) and name in ("secret", "smtp_password", "smtp_port"):
                continue  # empty secret: unchanged; empty port: the default of the encryption
            body[name] = value
        if self.channel is None:
            body["type"] = self.kind.value
        return body

    def show_errors(self, errors: dict[str, str]) -> None:
        for name, element in self.inputs.items():
            if hasattr(element, "error"):
                element.error = errors.get(name)

    async def save(self) -> None:
        body = self.body()
        schema = ChannelUpdate if self.channel else ChannelCreate
        errors = field_errors(schema, body)
        whole_channel = errors.pop("", None)  # a rule about the channel: "secret: required for ..."
        if whole_channel is not None:
            errors.setdefault(self.field_named(rule_fields(schema, body)) or "name", whole_channel)
        self.show_errors(errors)
        if errors:
            return
        try:
            await acting_user(is_owner)
            async with db.session_scope() as session:
                if self.channel is None:
                    await channels.create_channel(session=session, data=ChannelCreate.model_validate(body))
                else:
                    await channels.update_channel(
                        session=session, channel_id=self.channel.id, data=ChannelUpdate.model_validate(body)
                    )
        except DDMSError as exc:
            name = exc.field or self.field_named(str(exc.params.get("fields", "")).split(", "))
            if name is not None and name in self.inputs and hasattr(self.inputs[name], "error"):
                self.inputs[name].error = translate_error(exc)
            notify_error(exc)
            return
        self.dialog.close()
        notify_done(_("Channel '{name}' saved").format(name=body.get("name", "")))
        self.saved()


class ChannelList:
    """The section: add buttons and one row per channel with its health and actions."""

    def __init__(self) -> None:
        with ui.card().classes("w-full max-w-2xl gap-2").mark("channels"):
            ui.label(_("Notification channels")).classes("text-subtitle1 font-bold")
            ui.label(
                _("Alarm events are sent to these webhooks and e-mail addresses, retried for 24 hours.")
            ).classes("text-grey-8")
            with ui.row().classes("gap-2"):
                ui.button(
                    _("Add webhook"), icon="webhook", on_click=lambda: self.open_form(ChannelType.WEBHOOK)
                ).mark("add-webhook")
                ui.button(
                    _("Add e-mail"), icon="mail", on_click=lambda: self.open_form(ChannelType.EMAIL)
                ).mark("add-email")
            self.rows = ui.column().classes("w-full gap-2")

    def open_form(self, kind: ChannelType, channel: ChannelPublic | None = None) -> None:
        ChannelForm(kind, channel, self.show.refresh)

    def row(self, channel: ChannelPublic) -> None:
        zone = browser_timezone()
        with ui.column().classes("w-full gap-1 border-b pb-2").mark(theme.key("channel", channel.id)):
            with ui.row().classes("w-full items-center gap-2"):
                with ui.column().classes("gap-0 grow"):
                    ui.label(channel.name).classes("font-bold")
                    target = (
                        channel.url
                        if channel.type == ChannelType.WEBHOOK
                        else ", ".join(channel.email_to or [])
                    )
                    ui.label(f"{_(TYPE_LABELS[channel.type])} · {target}").classes("text-sm break-all")
                    ui.label(_(SEVERITIES[channel.min_severity])).classes("text-xs text-grey-7")
                    if not channel.enabled:
                        ui.label(_("Disabled: new alarm events are not sent")).classes(
                            "text-xs text-warning"
                        ).mark("channel-disabled")
                ui.switch(
                    _("Enabled"),
                    value=channel.enabled,
                    on_change=lambda e: self.set_enabled(channel, e.value),
                ).mark("channel-enabled")
            health = _("Pending: {pending} · Failed: {failed}").format(
                pending=channel.deliveries_pending, failed=channel.deliveries_failed
            )
            if channel.last_delivered_at is not None:
                when = format_datetime(channel.last_delivered_at, zone)
                health += " · " + _("Last delivered: {when}").format(when=when)
            ui.label(health).classes("text-xs text-grey-7").mark("channel-health")
            if channel.last_error:
                ui.label(_("Last error: {error}").format(error=channel.last_error)).classes(
                    "text-xs text-negative break-all"
                ).mark("channel-error")
            result = ui.label().classes("text-sm").mark("channel-test-result")
            with ui.row().classes("gap-2"):
                ui.button(
                    _("Send test"), icon="send", on_click=busy(lambda: self.send_test(channel, result))
                ).props("outline").mark("channel-test")
                ui.button(
                    _("Edit"),
                    icon="edit",
                    on_click=lambda: self.open_form(ChannelType(channel.type), channel),
                ).props("outline").mark("channel-edit")
                ui.button(
                    _("Delete"), icon="delete", color="negative", on_click=lambda: self.delete(channel)
                ).props("outline").mark("channel-delete")

    async def set_enabled(self, channel: ChannelPublic, enabled: bool) -> None:
        try:
            await acting_user(is_owner)
            async with db.session_scope() as session:
                await channels.update_channel(
                    session=session, channel_id=channel.id, data=ChannelUpdate(enabled=enabled)
                )
        except DDMSError as exc:
            notify_error(exc)
        self.show.refresh()

    async def send_test(self, channel: ChannelPublic, result: ui.label) -> None:
        try:
            await acting_user(is_owner)
            outcome = await delivery.send_test(channel_id=channel.id)
        except DDMSError as exc:
            notify_error(exc)
            return
        if outcome.success:
            result.set_text(_("Test event delivered"))
            result.classes(replace="text-sm text-positive")
            notify_done(_("Test event delivered"))
        else:
            text = _("Test failed: {error}").format(error=outcome.error or "")
            result.set_text(text)
            result.classes(replace="text-sm text-negative")
            ui.notify(text, type="negative", multi_line=True)

    def delete(self, channel: ChannelPublic) -> None:
        channel_id: uuid.UUID = channel.id

        async def remove() -> None:
            await acting_user(is_owner)
            async with db.session_scope() as session:
                await channels.delete_channel(session=session, channel_id=channel_id)

        confirm_delete(
            _("Delete the channel '{name}'? Events waiting for it are dropped.").format(name=channel.name),
            remove,
            _("Channel '{name}' deleted").format(name=channel.name),
            self.show.refresh,
        )

    @ui.refreshable_method
    async def show(self) -> None:
        async with db.session_scope() as session:
            rows = await channels.list_channels(session=session)
        if not rows:
            ui.label(_("No notification channels yet.")).classes("text-grey-7").mark("no-channels")
        for channel in rows:
            self.row(channel)


async def channel_section() -> None:
    view = ChannelList()
    with view.rows:
        await view.show()
