"""Login: redirection to the asked-for page, the service's messages and rate limit, sign-out."""

from __future__ import annotations

import pytest
from nicegui.testing import User
from sqlmodel import select

import ddms.db
from ddms import runtime
from ddms.models import LoginFailure
from ddms.models import User as Account
from ddms.security import PasswordSlots
from tests.pages.conftest import log_in

BROWSER_ADDRESS = "127.0.0.1"  # the simulated browser's (httpx ASGITransport's) address


async def test_unauthenticated_visitor_is_sent_to_login_and_back(user: User, reader: Account) -> None:
    await user.open("/devices")
    await user.should_see(marker="login-card")
    await log_in(user, "operator", page=None)
    await user.should_see(marker="page-title", content="Devices", retries=100)


async def test_wrong_password_shows_the_service_message(user: User, reader: Account) -> None:
    await log_in(user, "operator", "not-the-password")
    await user.should_see("Invalid username or password", retries=100)
    await user.should_see(marker="login-card")


async def test_sixth_failed_attempt_is_rate_limited(user: User, reader: Account) -> None:
    for _attempt in range(5):
        await log_in(user, "operator", "wrong-password")
        await user.should_see("Invalid username or password", retries=100)
    await log_in(user, "operator", "wrong-password")
    await user.should_see("Too many failed login attempts", retries=100)
    async with ddms.db.session_scope() as session:  # counted per address: the page passes the browser's
        addresses = (await session.exec(select(LoginFailure.client))).all()
    assert addresses == [BROWSER_ADDRESS] * 5


async def test_a_busy_server_says_so(user: User, reader: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every password slot taken (a login flood): the page answers at once with the service's message."""
    slots = PasswordSlots(size=1, wait=0)
    runtime.current().password_slots = slots  # the test's fresh runtime
    async with slots.hold():
        await log_in(user, "operator")
        await user.should_see("The server is busy checking other logins", retries=100)
    await user.should_see(marker="login-card")


async def test_log_out_ends_the_session(user: User, reader: Account, sign_in) -> None:
    await sign_in(reader)
    user.find(marker="logout").click()
    await user.open("/")
    await user.should_see(marker="login-card")


async def test_password_reset_by_the_owner_ends_the_ui_session(user: User, reader: Account, sign_in) -> None:
    import ddms.db
    from ddms.schemas.users import UserUpdate
    from ddms.services import users

    await sign_in(reader)
    await user.open("/devices")
    await user.should_see(marker="page-title", content="Devices")
    async with ddms.db.session_scope() as session:
        await users.update_user(
            session=session, user_id=reader.id, data=UserUpdate(password="reset-by-owner-1")
        )
    await user.open("/devices")
    await user.should_see(marker="login-card")


async def test_an_action_after_the_session_ended_goes_to_login(user: User, admin: Account, sign_in) -> None:
    from unittest.mock import patch

    import ddms.db
    from ddms.bus import get_bus
    from ddms.schemas.users import UserUpdate
    from ddms.services import groups, users

    await sign_in(admin)
    await user.open("/groups")
    user.find("Add group")
    # The owner demotes this admin meanwhile, without the bus telling the page (as from another
    # process: the page's own periodic re-check is a minute away), so the action's check must catch it.
    bus = get_bus()
    with patch.object(bus, "revoked"):
        async with ddms.db.session_scope() as session:
            await users.update_user(session=session, user_id=admin.id, data=UserUpdate(role="read_only"))
    user.find("Add group").click()
    await user.should_see(marker="group-dialog", retries=100)
    user.find(marker="field-name").type("Water")
    user.find(marker="save").click()
    await user.should_see(marker="login-card", retries=100)
    async with ddms.db.session_scope() as session:
        assert await groups.list_groups(session=session) == []


async def test_a_redirect_to_another_site_lands_on_the_home_page(user: User, reader: Account) -> None:
    await user.open("/login?redirect_to=/%5Cevil.example")  # the browser would go to //evil.example
    await log_in(user, "operator", page=None)
    await user.should_see(marker="page-title", content="Dashboard", retries=100)
    assert user.client is not None
    assert user.client.page.path == "/"
