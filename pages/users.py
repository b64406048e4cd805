"""/users: the owner manages accounts (create, reset password, change role, delete); admins only look."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.errors import DDMSError
from ddms.i18n import _, format_datetime, format_moment, translate_error
from ddms.models import ASSIGNABLE_ROLES, Role
from ddms.schemas.users import UserCreate, UserUpdate
from ddms.security import check_password_rules
from ddms.services import auth, users
from pages import theme
from pages.components.dialogs import confirm_delete
from pages.components.forms import field_errors
from pages.components.retry import retrying
from pages.layout import (
    acting_user,
    busy,
    forbidden,
    frame,
    is_owner,
    notify_done,
    notify_error,
    require_user,
)
from pages.session import browser_timezone


async def owner() -> None:
    await acting_user(is_owner)


def password_error(password: str) -> str | None:
    try:
        check_password_rules(password)
    except DDMSError as exc:
        return translate_error(exc)
    return None


def role_options() -> dict[str, str]:
    return {role.value: _(theme.ROLE_LABELS[role.value]) for role in ASSIGNABLE_ROLES}


class UsersView:
    """The account list of one browser tab and its dialogs (the owner's changes refresh only this tab)."""

    def __init__(self, can_manage: bool) -> None:
        self.can_manage = can_manage

    def create_dialog(self) -> None:
        with ui.dialog() as dialog, ui.card().classes("w-96").mark("user-dialog"):
            ui.label(_("Add user")).classes("text-h6")
            username = ui.input(_("Username")).props("outlined").classes("w-full").mark("field-username")
            password = (
                ui.input(_("Password"), password=True, password_toggle_button=True)
                .props("outlined")
                .classes("w-full")
                .mark("field-password")
            )
            role = (
                ui.select(role_options(), value="read_only", label=_("Role"))
                .props("outlined")
                .classes("w-full")
                .mark("field-role")
            )

            async def save() -> None:
                body = {
                    "username": (username.value or "").strip(),
                    "password": password.value or "",
                    "role": role.value,
                }
                errors = field_errors(UserCreate, body)
                username.error = errors.get("username")
                password.error = errors.get("password") or password_error(body["password"])
                if username.error or password.error:
                    return
                try:
                    await owner()
                    async with db.session_scope() as session:
                        await users.create_user(session=session, data=UserCreate.model_validate(body))
                except DDMSError as exc:
                    if exc.field == "username":
                        username.error = translate_error(exc)
                    else:
                        notify_error(exc)
                    return
                dialog.close()
                notify_done(_("User '{name}' created").format(name=body["username"]))
                self.show.refresh()

            with ui.row().classes("w-full justify-end"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat")
                ui.button(_("Save"), on_click=busy(save)).mark("save")
        dialog.open()

    def reset_password_dialog(self, account: Any) -> None:
        with ui.dialog() as dialog, ui.card().classes("w-96").mark("reset-dialog"):
            ui.label(_("Reset password of '{name}'").format(name=account.username)).classes("text-h6")
            password = (
                ui.input(_("New password"), password=True, password_toggle_button=True)
                .props("outlined")
                .classes("w-full")
                .mark("field-password")
            )

            async def save() -> None:
                password.error = password_error(password.value or "")
                if password.error:
                    return
                await self.change(
                    account.id,
                    UserUpdate(password=password.value),
                    _("Password of '{name}' reset; their sessions have ended").format(name=account.username),
                )
                dialog.close()

            with ui.row().classes("w-full justify-end"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat")
                ui.button(_("Reset password"), on_click=busy(save)).mark("save")
        dialog.open()

    async def change(self, user_id: uuid.UUID, data: UserUpdate, done: str) -> None:
        try:
            await owner()
            async with db.session_scope() as session:
                await users.update_user(session=session, user_id=user_id, data=data)
        except DDMSError as exc:
            notify_error(exc)
            return
        notify_done(done)
        self.show.refresh()

    def delete_dialog(self, account: Any) -> None:
        async def delete() -> None:
            await owner()
            async with db.session_scope() as session:
                await users.delete_user(session=session, user_id=account.id)

        confirm_delete(
            _("Delete user '{name}'?").format(name=account.username),
            delete,
            _("User '{name}' deleted").format(name=account.username),
            self.show.refresh,
        )

    async def unlock(self, account: Any) -> None:
        try:
            await owner()
            async with db.session_scope() as session:
                await users.unlock(session=session, user_id=account.id)
        except DDMSError as exc:
            notify_error(exc)
            return
        notify_done(_("'{name}' can log in again").format(name=account.username))
        self.show.refresh()

    def lockout(self, account: Any, until: datetime) -> None:
        """The lock-out of a name (failed logins), with the owner's way to lift it."""
        ui.badge(_("Locked out until {when}").format(when=format_moment(until, browser_timezone()))).props(
            "color=negative"
        ).classes("text-sm px-2 py-1").mark("lockout")
        if self.can_manage:
            ui.button(_("Unlock"), icon="lock_open", on_click=busy(lambda: self.unlock(account))).props(
                "outline"
            ).mark("unlock")

    def row(self, account: Any, locked_until: datetime | None = None) -> None:
        with (
            ui.card().classes("w-full").mark(theme.key("user-row", account.id)),
            ui.row().classes("w-full items-center gap-3"),
        ):
            with ui.column().classes("gap-0 grow"):
                ui.label(account.username).classes("text-subtitle1 font-bold")
                created = format_datetime(account.created_at, browser_timezone())
                ui.label(_("Created: {when}").format(when=created)).classes("text-xs text-grey-7")
            if locked_until is not None:
                self.lockout(account, locked_until)
            if account.role == Role.OWNER or not self.can_manage:
                ui.badge(_(theme.ROLE_LABELS.get(account.role, account.role))).classes(
                    "text-sm px-2 py-1"
                ).mark("role")
                return
            ui.select(
                role_options(),
                value=account.role,
                label=_("Role"),
                on_change=lambda e: self.change(account.id, UserUpdate(role=e.value), _("Role changed")),
            ).props("outlined dense").classes("w-40").mark("role")
            ui.button(
                _("Reset password"), icon="key", on_click=lambda: self.reset_password_dialog(account)
            ).props("outline").mark("reset-password")
            ui.button(
                _("Delete"), icon="delete", color="negative", on_click=lambda: self.delete_dialog(account)
            ).props("outline").mark("delete")

    @ui.refreshable_method
    async def show(self) -> None:
        async with db.session_scope() as session:
            accounts = await users.list_users(session=session)
            locked = await auth.throttle().locked_until(
                session=session, usernames=[account.username for account in accounts]
            )
        for account in accounts:
            self.row(account, locked.get(account.username))


@ui.page("/users")
@retrying
async def users_page(request: Request) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    if not user.can_edit_devices:
        forbidden(user, _("Users"))
        return None
    with frame(_("Users"), user):
        view = UsersView(user.is_owner)
        if user.is_owner:
            ui.button(_("Add user"), icon="person_add", on_click=view.create_dialog).mark("add-user")
        else:
            ui.label(_("Only the owner can change accounts.")).classes("text-grey-7").mark("read-only-note")
        await view.show()
    return None
