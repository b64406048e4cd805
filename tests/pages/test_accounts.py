"""Users (owner manages, admin looks, read-only refused), settings (owner only) and the profile."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from nicegui.testing import User

import ddms.db
from ddms import runtime
from ddms.models import Role
from ddms.models import User as Account
from ddms.services import auth, backup, system, users
from ddms.services.login_throttle import LoginThrottle
from pages import session
from tests.pages.helpers import eventually


async def test_owner_creates_a_read_only_user(user: User, owner: Account, sign_in) -> None:
    await sign_in(owner)
    await user.open("/users")
    user.find("Add user").click()
    user.find(marker="field-username").type("nightshift")
    user.find(marker="field-password").type("long-enough-1")
    user.find(marker="save").click()
    await user.should_see("User 'nightshift' created", retries=100)
    async with ddms.db.session_scope() as session:
        created = await users.find_by_username(session=session, username="nightshift")
    assert created is not None
    assert created.role == Role.READ_ONLY
    await user.should_see(marker=f"user-row-{created.id}")


async def test_short_password_is_refused_inline(user: User, owner: Account, sign_in) -> None:
    await sign_in(owner)
    await user.open("/users")
    user.find("Add user").click()
    user.find(marker="field-username").type("nightshift")
    user.find(marker="field-password").type("short")
    user.find(marker="save").click()
    field = user.find(marker="field-password").elements.pop()
    await eventually(lambda: field.error)
    assert field.error == "Password must be at least 8 characters"


async def test_owner_row_has_no_delete_and_others_do(
    user: User, owner: Account, reader: Account, sign_in
) -> None:
    await sign_in(owner)
    await user.open("/users")
    with user.scope(marker=f"user-row-{owner.id}"):
        await user.should_not_see("Delete")
    with user.scope(marker=f"user-row-{reader.id}"):
        await user.should_see("Delete")
        await user.should_see("Reset password")


async def test_owner_changes_a_role(user: User, owner: Account, reader: Account, sign_in) -> None:
    await sign_in(owner)
    await user.open("/users")
    with user.scope(marker=f"user-row-{reader.id}"):
        user.find(marker="role").elements.pop().value = "admin"
    await user.should_see("Role changed", retries=100)
    async with ddms.db.session_scope() as session:
        assert (await users.get_user(session=session, user_id=reader.id)).role == Role.ADMIN


async def test_admin_sees_the_list_read_only(user: User, admin: Account, reader: Account, sign_in) -> None:
    await sign_in(admin)
    await user.open("/users")
    await user.should_see("operator")
    await user.should_see("Only the owner can change accounts.")
    await user.should_not_see("Add user")
    await user.should_not_see("Delete")


async def test_read_only_user_cannot_open_users_or_settings(user: User, reader: Account, sign_in) -> None:
    await sign_in(reader)
    for path in ("/users", "/settings"):
        await user.open(path)
        await user.should_see(marker="forbidden")
    await user.should_not_see(marker="nav-/users")
    await user.should_not_see(marker="nav-/settings")


async def test_owner_saves_settings_and_title_changes(user: User, owner: Account, sign_in) -> None:
    await sign_in(owner)
    await user.open("/settings")
    title = user.find(marker="field-app_title").elements.pop()
    title.value = "Boiler House"
    user.find(marker="save").click()
    await user.should_see("Settings saved", retries=100)
    async with ddms.db.session_scope() as session:
        assert (await system.get_config(session=session)).app_title == "Boiler House"
    await user.open("/")
    await user.should_see("Boiler House")


async def test_bad_cron_is_refused_inline(user: User, owner: Account, sign_in) -> None:
    await sign_in(owner)
    await user.open("/settings")
    schedule = user.find(marker="field-backup_schedule").elements.pop()
    schedule.value = "every night"
    user.find(marker="save").click()
    await eventually(lambda: schedule.error)
    assert schedule.error is not None
    assert "cron" in schedule.error
    async with ddms.db.session_scope() as session:
        assert (await system.get_config(session=session)).backup_schedule == "0 2 * * *"


async def test_admin_cannot_open_settings(user: User, admin: Account, sign_in) -> None:
    await sign_in(admin)
    await user.open("/settings")
    await user.should_see(marker="forbidden")


async def test_language_preference_is_saved_and_applied(user: User, reader: Account, sign_in) -> None:
    await sign_in(reader)
    await user.open("/profile")
    user.find(marker="field-language").elements.pop().value = "zh"
    user.find(marker="save-profile").click()
    await eventually(lambda: user.notify.contains("个人资料已保存") or user.notify.contains("Profile saved"))
    async with ddms.db.session_scope() as session:
        assert (await users.get_user(session=session, user_id=reader.id)).language_preference == "zh"
    await user.open("/devices")
    await user.should_see("设备")


async def test_password_change_needs_the_current_password(user: User, reader: Account, sign_in) -> None:
    await sign_in(reader)
    await user.open("/profile")
    user.find(marker="field-current-password").type("not-my-password")
    user.find(marker="field-new-password").type("brand-new-password")
    user.find(marker="field-repeat-password").type("brand-new-password")
    user.find(marker="change-password").click()
    field = user.find(marker="field-current-password").elements.pop()
    await eventually(lambda: field.error)
    assert field.error == "Current password is incorrect"


async def test_owner_resets_a_password_and_ends_its_sessions(
    user: User, owner: Account, reader: Account, sign_in
) -> None:
    await sign_in(owner)
    await user.open("/users")
    with user.scope(marker=f"user-row-{reader.id}"):
        user.find("Reset password").click()
    user.find(marker="field-password").type("a-new-password-1")
    user.find(marker="save").click()
    await user.should_see("Password of 'operator' reset; their sessions have ended", retries=100)
    async with ddms.db.session_scope() as session:
        account = await users.get_user(session=session, user_id=reader.id)
    assert account.token_version == reader.token_version + 1


async def test_owner_deletes_a_user(user: User, owner: Account, reader: Account, sign_in) -> None:
    await sign_in(owner)
    await user.open("/users")
    with user.scope(marker=f"user-row-{reader.id}"):
        user.find("Delete").click()
    user.find(marker="confirm-delete").click()
    await user.should_see("User 'operator' deleted", retries=100)
    await user.should_not_see(marker=f"user-row-{reader.id}")


async def test_settings_show_the_last_backup_and_why_backups_fail(
    user: User, owner: Account, sign_in, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(owner)
    await user.open("/settings")
    await user.should_see("No backup has run since the server started")
    written = await backup.create_backup(session.settings())
    try:
        await user.open("/settings")
        await user.should_see("Last backup:")
        await user.should_not_see(marker="backup-problem")
        monkeypatch.setattr(
            backup.last_status(),
            "error",
            "pg_dump was not found on PATH: install the "
            "PostgreSQL client tools (same major version as the server) to enable backups",
        )
        await user.open("/settings")
        await user.should_see(marker="backup-problem")
        await user.should_see("pg_dump was not found on PATH")
    finally:
        written.unlink()


async def lock_out(username: str, address: str = "10.0.0.66") -> None:
    """As many failed logins from a stranger's address as lock ``username`` out there."""
    throttle = auth.throttle()
    for _ in range(throttle.limit):
        async with ddms.db.session_scope() as session:
            attempt = await throttle.reserve(session=session, username=username, client=address)
            throttle.failed(attempt)


async def test_owner_sees_a_lockout_and_unlocks_it(
    user: User, owner: Account, reader: Account, sign_in, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = lambda: datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # noqa: E731
    runtime.current().throttle = LoginThrottle(clock=clock)  # the test's fresh runtime
    await lock_out("operator")
    await sign_in(owner)
    await user.open("/users")
    with user.scope(marker=f"user-row-{reader.id}"):
        await user.should_see(marker="lockout", content="Locked out until")
        await user.should_see("8:15")  # a window after the first failure (the browser is in UTC)
        user.find(marker="unlock").click()
    await user.should_see("'operator' can log in again", retries=100)
    await user.should_not_see(marker="lockout")
    async with ddms.db.session_scope() as session:
        assert await auth.throttle().locked_until(session=session, usernames=["operator"]) == {}


async def test_admin_sees_a_lockout_but_cannot_unlock(
    user: User, admin: Account, reader: Account, sign_in
) -> None:
    await lock_out("operator")
    await sign_in(admin)
    await user.open("/users")
    with user.scope(marker=f"user-row-{reader.id}"):
        await user.should_see(marker="lockout")
    await user.should_not_see(marker="unlock")
