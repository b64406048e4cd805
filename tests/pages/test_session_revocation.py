"""An open page of an account that is deleted, demoted or whose password changed ends at once.

The users service reports the revocation on the bus and every open page of that account re-checks
its session (``pages.layout.watch_session``); a change the bus cannot see (another process) is found
by the periodic re-check. An ended page goes to the login page and drops its content, so its live
values stop even in a tab that ignored the navigation.
"""

from __future__ import annotations

import pytest
from nicegui import Client
from nicegui.testing import User

import ddms.db
import pages.layout
from ddms.bus import Revocation, get_bus
from ddms.models import Role
from ddms.models import User as Account
from ddms.schemas.users import UserUpdate
from ddms.services import users
from tests.pages.helpers import eventually, make_device, publish


async def open_dashboard(user: User, account: Account, sign_in) -> Client:
    boiler = await make_device("Boiler")
    await sign_in(account)
    await user.open("/")
    publish(boiler, 42.5)
    await user.should_see("42.5", retries=100)
    assert user.client is not None
    user.client.storage["boiler"] = boiler
    return user.client


def ended(client: Client) -> bool:
    return not client.content.default_slot.children


async def test_a_deleted_users_dashboard_ends_at_once(user: User, reader: Account, sign_in) -> None:
    dashboard = await open_dashboard(user, reader, sign_in)
    async with ddms.db.session_scope() as session:
        await users.delete_user(session=session, user_id=reader.id)
    await user.should_see(marker="login-card", retries=100)
    await eventually(lambda: ended(dashboard))


@pytest.mark.parametrize("change", [UserUpdate(role=Role.ADMIN), UserUpdate(password="reset-by-owner-1")])
async def test_a_role_or_password_change_ends_the_open_dashboard(
    user: User, reader: Account, sign_in, change: UserUpdate
) -> None:
    dashboard = await open_dashboard(user, reader, sign_in)
    async with ddms.db.session_scope() as session:
        await users.update_user(session=session, user_id=reader.id, data=change)
    await user.should_see(marker="login-card", retries=100)
    await eventually(lambda: ended(dashboard))


async def test_a_page_whose_session_is_still_valid_stays_live(
    user: User, reader: Account, admin: Account, sign_in
) -> None:
    dashboard = await open_dashboard(user, reader, sign_in)
    async with ddms.db.session_scope() as session:
        await users.delete_user(session=session, user_id=admin.id)  # someone else
    get_bus().revoked(Revocation(user_id=reader.id))  # a re-check that finds the session valid
    publish(dashboard.storage["boiler"], 43.5)
    await user.should_see("43.5", retries=100)
    assert user.client is dashboard
    assert not ended(dashboard)


async def test_the_periodic_check_finds_what_the_bus_did_not_report(
    user: User, reader: Account, sign_in, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages.layout, "SESSION_RECHECK_SECONDS", 0.2)
    dashboard = await open_dashboard(user, reader, sign_in)
    async with ddms.db.session_scope() as session:  # as another process would: no bus event
        account = await session.get(Account, reader.id)
        assert account is not None
        account.token_version += 1
        session.add(account)
        await session.commit()
    await user.should_see(marker="login-card", retries=200)
    await eventually(lambda: ended(dashboard))
