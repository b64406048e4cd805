"""Groups: create with members, rename, delete, the group dashboard and its history export."""

from __future__ import annotations

import pytest
from nicegui.testing import User

import ddms.db
from ddms import errors
from ddms.models import User as Account
from ddms.services import groups
from tests.pages.helpers import make_device, make_group, publish


async def test_admin_creates_a_group_with_members(user: User, admin: Account, sign_in) -> None:
    pump = await make_device("Pump")
    await make_device("Fan")
    await sign_in(admin)
    await user.open("/groups")
    user.find("Add group").click()
    await user.should_see(marker="group-dialog", retries=100)
    user.find(marker="field-name").type("Water")
    user.find(marker="field-devices").elements.pop().value = [str(pump.id)]
    user.find(marker="save").click()
    await user.should_see("Group 'Water' saved", retries=100)
    async with ddms.db.session_scope() as session:
        (group,) = await groups.list_groups(session=session)
        members = await groups.group_devices(session=session, group_id=group.id)
    assert (group.name, [m.name for m in members]) == ("Water", ["Pump"])


async def test_duplicate_group_name_is_refused_inline(user: User, admin: Account, sign_in) -> None:
    await make_group("Water", [])
    await sign_in(admin)
    await user.open("/groups")
    user.find("Add group").click()
    await user.should_see(marker="group-dialog", retries=100)
    user.find(marker="field-name").type("Water")
    user.find(marker="save").click()
    await user.should_see("A group named 'Water' already exists", retries=100)
    assert user.find(marker="field-name").elements.pop().error == "A group named 'Water' already exists"


async def test_a_reworded_group_error_still_lands_on_the_name(
    user: User, admin: Account, sign_in, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(errors.MESSAGES, "group_name_taken", "{name}: choose another name")
    await make_group("Water", [])
    await sign_in(admin)
    await user.open("/groups")
    user.find("Add group").click()
    await user.should_see(marker="group-dialog", retries=100)
    user.find(marker="field-name").type("Water")
    user.find(marker="save").click()
    await user.should_see("Water: choose another name", retries=100)
    assert user.find(marker="field-name").elements.pop().error == "Water: choose another name"


async def test_read_only_user_sees_groups_without_controls(user: User, reader: Account, sign_in) -> None:
    await make_group("Water", [])
    await sign_in(reader)
    await user.open("/groups")
    await user.should_see("Water")
    await user.should_not_see("Add group")
    await user.should_not_see("Edit")


async def test_group_dashboard_shows_member_cards_and_live_summary(
    user: User, reader: Account, sign_in
) -> None:
    pump = await make_device("Pump")
    fan = await make_device("Fan")
    group = await make_group("Water", [pump])
    await sign_in(reader)
    await user.open(f"/groups/{group.id}")
    await user.should_see(marker=f"device-card-{pump.id}")
    await user.should_not_see(marker=f"device-card-{fan.id}")
    await user.should_see(marker="group-chart")
    publish(pump, 12.5, level="warning")
    await user.should_see("12.5", retries=100)


async def test_group_export_downloads_csv(user: User, reader: Account, sign_in) -> None:
    pump = await make_device("Pump")
    group = await make_group("Water", [pump])
    await sign_in(reader)
    await user.open(f"/groups/{group.id}")
    user.find("Export CSV").click()
    response = await user.download.next()
    assert response.content.startswith("\ufeff".encode())  # for spreadsheets (an option, on by default)
    assert response.content.decode("utf-8-sig").splitlines()[0] == "timestamp,device_name,value,unit"


async def test_admin_deletes_a_group_and_keeps_devices(user: User, admin: Account, sign_in) -> None:
    pump = await make_device("Pump")
    group = await make_group("Water", [pump])
    await sign_in(admin)
    await user.open(f"/groups/{group.id}")
    user.find(marker="delete").click()
    user.find(marker="confirm-delete").click()
    await user.should_see("Group 'Water' deleted", retries=100)
    async with ddms.db.session_scope() as session:
        assert await groups.list_groups(session=session) == []
