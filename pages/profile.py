"""/profile: the signed-in user's username, language (saved on the account) and password."""

from __future__ import annotations

from nicegui import app, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ddms import db
from ddms.errors import DDMSError
from ddms.i18n import LANGUAGES, _, translate_error
from ddms.schemas.users import ProfileUpdate
from ddms.security import check_password_rules
from ddms.services import auth, users
from pages import theme
from pages.components.alarm_bell import SOUND_KEY
from pages.components.forms import field_errors
from pages.components.retry import retrying
from pages.layout import busy, frame, notify_done, notify_error, require_user
from pages.session import SessionUser, current_user, remember, renewing_session, settings, share


def profile_card(user: SessionUser) -> None:
    with ui.card().classes("w-full max-w-xl gap-3").mark("profile-form"):
        ui.label(_("Account")).classes("text-h6")
        ui.label(_("Role: {role}").format(role=_(theme.ROLE_LABELS.get(user.role, user.role)))).mark("role")
        username = (
            ui.input(_("Username"), value=user.username)
            .props("outlined")
            .classes("w-full")
            .mark("field-username")
        )
        language = (
            ui.select(
                {code: name for code, (name, _locale) in LANGUAGES.items()},
                value=user.language,
                label=_("Language"),
            )
            .props("outlined")
            .classes("w-full")
            .mark("field-language")
        )

        async def save() -> None:
            body = {"username": (username.value or "").strip(), "language_preference": language.value}
            username.error = field_errors(ProfileUpdate, body).get("username")
            if username.error:
                return
            me = await current_user()
            if me is None:
                ui.navigate.to("/login")
                return
            try:
                async with db.session_scope() as session:
                    account = await users.get_user(session=session, user_id=me.id)
                    await users.update_profile(session=session, user=account, data=ProfileUpdate(**body))
            except DDMSError as exc:
                if exc.field == "username":
                    username.error = translate_error(exc)
                else:
                    notify_error(exc)
                return
            app.storage.user["language"] = language.value
            notify_done(_("Profile saved"))
            ui.navigate.reload()

        ui.button(_("Save"), icon="save", on_click=busy(save)).mark("save-profile")


def alarm_card() -> None:
    """Per-browser alarm preferences, kept with dark mode and language in the user storage."""
    storage = app.storage.user
    with ui.card().classes("w-full max-w-xl gap-3").mark("alarm-preferences"):
        ui.label(_("Alarms")).classes("text-h6")
        ui.switch(
            _("Sound for new critical alarms"),
            value=bool(storage.get(SOUND_KEY, False)),
            on_change=lambda event: storage.__setitem__(SOUND_KEY, bool(event.value)),
        ).mark("profile-alarm-sound")


def password_card() -> None:
    with ui.card().classes("w-full max-w-xl gap-3").props("id=password").mark("password-form"):
        ui.label(_("Change password")).classes("text-h6")
        current = (
            ui.input(_("Current password"), password=True, password_toggle_button=True)
            .props("outlined")
            .classes("w-full")
            .mark("field-current-password")
        )
        new = (
            ui.input(_("New password"), password=True, password_toggle_button=True)
            .props("outlined")
            .classes("w-full")
            .mark("field-new-password")
        )
        repeat = (
            ui.input(_("Repeat new password"), password=True)
            .props("outlined")
            .classes("w-full")
            .mark("field-repeat-password")
        )

        async def change() -> None:
            current.error = new.error = repeat.error = None
            try:
                check_password_rules(new.value or "")
            except DDMSError as exc:
                new.error = translate_error(exc)
                return
            if new.value != repeat.value:
                repeat.error = _("The passwords do not match")
                return
            me = await current_user()
            if me is None:
                ui.navigate.to("/login")
                return
            button.props("loading")
            with renewing_session():  # the revocation this causes must not end this browser's pages
                try:
                    async with db.session_scope() as session:
                        account = await users.get_user(session=session, user_id=me.id)
                        issued = await auth.change_password(
                            session=session,
                            settings=settings(),
                            user=account,
                            old_password=current.value or "",
                            new_password=new.value,
                        )
                except DDMSError as exc:
                    (current if exc.field == "current_password" else new).error = translate_error(exc)
                    return
                finally:
                    button.props(remove="loading")
                remember(issued.user)  # other sessions end; this one continues with the new version
                await share()
            current.value = new.value = repeat.value = ""
            notify_done(_("Password changed; your other sessions have ended"))

        button = ui.button(_("Change password"), icon="key", on_click=change).mark("change-password")


@ui.page("/profile")
@retrying
async def profile_page(request: Request) -> RedirectResponse | None:
    user = await require_user(request.url.path)
    if isinstance(user, RedirectResponse):
        return user
    with frame(_("Profile"), user):
        profile_card(user)
        alarm_card()
        password_card()
    return None
