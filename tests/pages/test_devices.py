"""Device list and form: role-based controls, inline validation from the rules, create, delete."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

import ddms.db
from ddms import errors
from ddms.models import User as Account
from ddms.services import devices
from tests.pages.helpers import eventually, make_device


async def open_add_dialog(user: User) -> None:
    await user.open("/devices")
    user.find("Add device").click()
    await user.should_see(marker="device-dialog", retries=100)


async def test_read_only_user_sees_no_editing_controls(user: User, reader: Account, sign_in) -> None:
    await make_device("Boiler")
    await sign_in(reader)
    await user.open("/devices")
    await user.should_see("Boiler")
    await user.should_not_see("Add device")
    await user.should_not_see("Edit")
    await user.should_not_see("Delete")
    await user.should_not_see("Test connection")


async def test_admin_sees_add_edit_delete_and_test_connection(user: User, admin: Account, sign_in) -> None:
    await make_device("Boiler")
    await sign_in(admin)
    await user.open("/devices")
    for label in ("Add device", "Edit", "Delete", "Test connection"):
        await user.should_see(label)


async def test_field_rule_is_shown_inline_when_the_field_is_left(user: User, admin: Account, sign_in) -> None:
    await sign_in(admin)
    await open_add_dialog(user)
    port = user.find(marker="field-modbus_port").elements.pop()
    port.value = 70000
    user.find(marker="field-modbus_port").trigger("blur")
    assert port.error == "Must be at most 65535"
    port.value = 502
    user.find(marker="field-modbus_port").trigger("blur")
    assert port.error is None


async def test_service_threshold_rule_is_shown_next_to_the_field(user: User, admin: Account, sign_in) -> None:
    await sign_in(admin)
    await open_add_dialog(user)
    user.find(marker="field-name").type("Boiler")
    user.find(marker="field-modbus_ip").type("10.0.0.5")
    user.find(marker="field-threshold_warning_lower").elements.pop().value = 50
    user.find(marker="field-threshold_warning_upper").elements.pop().value = 10
    user.find(marker="save").click()
    field = user.find(marker="field-threshold_warning_lower").elements.pop()
    await eventually(lambda: field.error)
    assert field.error == "Warning low (50) must be below Warning high (10)"
    async with ddms.db.session_scope() as session:
        assert await devices.list_devices(session=session) == []


async def test_missing_required_fields_block_the_save(user: User, admin: Account, sign_in) -> None:
    await sign_in(admin)
    await open_add_dialog(user)
    user.find(marker="save").click()
    await eventually(lambda: user.find(marker="field-name").elements.pop().error)
    assert user.find(marker="field-name").elements.pop().error == "Required"
    assert user.find(marker="field-modbus_ip").elements.pop().error == "Required"


async def test_admin_creates_a_device(user: User, admin: Account, sign_in) -> None:
    await sign_in(admin)
    await open_add_dialog(user)
    user.find(marker="field-name").type("Line pressure")
    user.find(marker="field-modbus_ip").type("10.0.0.5")
    user.find(marker="field-unit").type("bar")
    user.find(marker="save").click()
    await user.should_see("Device 'Line pressure' saved", retries=100)
    async with ddms.db.session_scope() as session:
        (created,) = await devices.list_devices(session=session)
    assert (created.modbus_ip, created.unit, created.data_type) == ("10.0.0.5", "bar", "uint16")
    await user.should_see(marker=f"device-row-{created.id}", retries=100)  # keyed by id, not name


async def test_duplicate_name_is_refused_inline(user: User, admin: Account, sign_in) -> None:
    await make_device("Boiler")
    await sign_in(admin)
    await open_add_dialog(user)
    user.find(marker="field-name").type("Boiler")
    user.find(marker="field-modbus_ip").type("10.0.0.5")
    user.find(marker="save").click()
    name = user.find(marker="field-name").elements.pop()
    await eventually(lambda: name.error)
    assert name.error == "A device named 'Boiler' already exists"


async def test_a_reworded_service_message_still_lands_on_its_field(
    user: User, admin: Account, sign_in, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form places an error by its ``field``, not by the wording (the old code matched sentences)."""
    monkeypatch.setitem(errors.MESSAGES, "device_name_taken", "The name {name} is in use")
    monkeypatch.setitem(errors.MESSAGES, "threshold_order_strict", "{high_field} must exceed {low_field}")
    await make_device("Boiler")
    await sign_in(admin)
    await open_add_dialog(user)
    user.find(marker="field-name").type("Boiler")
    user.find(marker="field-modbus_ip").type("10.0.0.5")
    user.find(marker="save").click()
    name = user.find(marker="field-name").elements.pop()
    await eventually(lambda: name.error)
    assert name.error == "The name Boiler is in use"
    name.value = "Kettle"
    user.find(marker="field-threshold_warning_lower").elements.pop().value = 50
    user.find(marker="field-threshold_warning_upper").elements.pop().value = 10
    user.find(marker="save").click()
    low = user.find(marker="field-threshold_warning_lower").elements.pop()
    await eventually(lambda: low.error)
    assert low.error == "Warning high must exceed Warning low"  # field names shown as their labels


@pytest.mark.parametrize("keep", [True, False])
async def test_delete_with_keep_data_choice(user: User, admin: Account, sign_in, keep: bool) -> None:
    device = await make_device("Boiler")
    await sign_in(admin)
    await user.open("/devices")
    user.find("Delete").click()
    user.find(marker="keep-data").elements.pop().value = keep
    user.find(marker="confirm-delete").click()
    await user.should_see("Device 'Boiler' deleted", retries=100)
    await user.should_not_see(marker=f"device-row-{device.id}")
    async with ddms.db.session_scope() as session:
        if keep:
            archived = await devices.get_device(session=session, device_id=device.id, include_deleted=True)
            assert archived.deleted_at is not None
        else:
            with pytest.raises(devices.NotFound):
                await devices.get_device(session=session, device_id=device.id, include_deleted=True)


async def test_server_refuses_a_delete_from_a_read_only_session(user: User, reader: Account, sign_in) -> None:
    """Hidden buttons are not the permission check: the handler re-checks the role."""
    from pages import devices as devices_page

    device = await make_device("Boiler")
    await sign_in(reader)
    await user.open("/devices")
    with user:
        devices_page.delete_dialog(device, done=lambda: None)
    user.find(marker="confirm-delete").click()
    await user.should_see("You do not have permission to do this", retries=100)
    async with ddms.db.session_scope() as session:
        assert (await devices.get_device(session=session, device_id=device.id)).deleted_at is None
    assert ui  # the dialog was built in the page's context


async def test_one_tab_saving_never_rerenders_another_users_list(
    user: User, create_user, admin: Account, reader: Account, sign_in
) -> None:
    """Each tab's list is its own: an admin's save must not redraw a read-only tab with admin controls."""
    from tests.pages.conftest import log_in

    await make_device("Boiler")
    operator = create_user()
    await log_in(operator, "operator")
    await operator.should_see(marker="page-title", retries=100)
    await operator.open("/devices")
    await sign_in(admin)
    await open_add_dialog(user)
    user.find(marker="field-name").type("Chiller")
    user.find(marker="field-modbus_ip").type("10.0.0.9")
    user.find(marker="save").click()
    await user.should_see("Device 'Chiller' saved", retries=100)
    async with ddms.db.session_scope() as session:
        chiller = next(d for d in await devices.list_devices(session=session) if d.name == "Chiller")
    await user.should_see(marker=f"device-row-{chiller.id}", retries=100)
    await operator.should_see(marker=f"device-row-{chiller.id}", retries=100)  # the list follows live
    await operator.should_not_see("Edit")  # redrawn for its own role, never with the admin's controls


async def test_new_device_starts_with_the_configured_default_retention(
    user: User, admin: Account, sign_in
) -> None:
    from ddms.schemas.system import ConfigUpdate
    from ddms.services import system

    async with ddms.db.session_scope() as session:
        await system.update_config(session=session, data=ConfigUpdate(default_retention_days=30))
    await sign_in(admin)
    await open_add_dialog(user)
    assert user.find(marker="field-retention_days").elements.pop().value == 30
    user.find(marker="field-name").type("Boiler")
    user.find(marker="field-modbus_ip").type("10.0.0.5")
    user.find(marker="save").click()
    await user.should_see("Device 'Boiler' saved", retries=100)
    async with ddms.db.session_scope() as session:
        (created,) = await devices.list_devices(session=session)
    assert created.retention_days == 30


async def test_edit_changes_and_clears_thresholds(user: User, admin: Account, sign_in) -> None:
    device = await make_device("Boiler", threshold_warning_upper=80, threshold_critical_upper=95)
    await sign_in(admin)
    await user.open("/devices")
    user.find("Edit").click()
    await user.should_see(marker="device-dialog", retries=100)
    assert user.find(marker="field-name").elements.pop().value == "Boiler"
    user.find(marker="field-threshold_warning_upper").elements.pop().value = 85
    user.find(marker="field-threshold_critical_upper").elements.pop().value = None
    user.find(marker="save").click()
    await user.should_see("Device 'Boiler' saved", retries=100)
    async with ddms.db.session_scope() as session:
        edited = await devices.get_device(session=session, device_id=device.id)
    assert (edited.threshold_warning_upper, edited.threshold_critical_upper) == (85, None)
