"""The device form's Test button and decode assistant, and its messages in the engineer's words.

A hand-written Modbus server on loopback holds 75.32569 as a float32 in CDAB order (words swapped), the
case the issue names: tested as ABCD it used to say "Connection OK: value -0" and store nonsense.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import pytest
from nicegui.testing import User

import ddms.db
from collector.probe import probe_device
from ddms.db import Database
from ddms.modbus_types import ByteOrder, DataType
from ddms.models import Role
from ddms.models import User as Account
from ddms.services import devices, live
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.pages.helpers import eventually, make_device, texts
from tests.pages.test_i18n import english_words


@pytest.fixture
async def cdab_server() -> AsyncIterator[RawModbusServer]:
    server = RawModbusServer()
    await server.start()
    server.units[2] = Unit(registers={40: 0xA6C1, 41: 0x4296})  # float32 0x4296A6C1 as C D | A B
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def probe(ui_database: Database) -> None:
    """What the composition root installs: the collector's one-shot read (in the test's runtime)."""
    live.set_probe(partial(probe_device, modbus_timeout=2.0))


def field(user: User, name: str) -> Any:
    return user.find(marker=f"field-{name}").elements.pop()


def fill(user: User, **values: object) -> None:
    for name, value in values.items():
        field(user, name).value = value


async def open_add_dialog(user: User) -> None:
    await user.open("/devices")
    user.find(marker="add-device").click()
    await user.should_see(marker="device-dialog", retries=100)


def fill_connection(user: User, port: int) -> None:
    user.find(marker="field-name").type("Flow")
    user.find(marker="field-modbus_ip").type("127.0.0.1")
    fill(user, modbus_port=port, modbus_slave_id=2, modbus_register=40, data_type="float32")


async def test_the_assistant_shows_four_orders_and_a_click_sets_the_byte_order(
    user: User, admin: Account, sign_in, cdab_server: RawModbusServer, probe: None
) -> None:
    await sign_in(admin)
    await open_add_dialog(user)
    fill_connection(user, cdab_server.port)
    user.find(marker="form-test").click()
    await user.should_see(marker="probe-registers", retries=100)

    await user.should_see("Registers read: 0xA6C1 0x4296")
    status = user.find(marker="probe-status").elements.pop()
    # ABCD, the form's order: a tiny number, shown as one instead of as "-0"
    assert re.fullmatch(r"Connection OK: value -1\.3\d{3}e-15 read in [\d.,]+ ms", status.text), status.text
    shown = {
        order: user.find(marker=f"decoding-float32-{order}").elements.pop().text
        for order in ("ABCD", "CDAB", "BADC", "DCBA")
    }
    assert shown["CDAB"] == "75.32569"
    assert all(text != "75.32569" for order, text in shown.items() if order != "CDAB"), shown
    for data_type in ("uint32", "int32"):
        await user.should_see(marker=f"decoding-{data_type}-CDAB")
    assert cdab_server.requests == [(2, 40, 2)]

    user.find(marker="decoding-float32-CDAB").click()
    assert field(user, "byte_order").value == "CDAB"
    assert field(user, "data_type").value == "float32"
    await eventually(lambda: "value 75.32569" in user.find(marker="probe-status").elements.pop().text)

    async with ddms.db.session_scope() as session:
        assert await devices.list_devices(session=session) == []  # testing saved nothing
    user.find(marker="save").click()
    await user.should_see("Device 'Flow' saved", retries=100)
    async with ddms.db.session_scope() as session:
        (saved,) = await devices.list_devices(session=session)
    assert (saved.data_type, saved.byte_order, saved.modbus_port) == ("float32", "CDAB", cdab_server.port)


async def test_edit_tests_the_values_in_the_form_not_the_saved_ones(
    user: User, admin: Account, sign_in, cdab_server: RawModbusServer, probe: None
) -> None:
    await make_device("Flow", modbus_port=1, modbus_slave_id=2, modbus_register=40, data_type="float32")
    await sign_in(admin)
    await user.open("/devices")
    user.find(marker="edit").click()
    await user.should_see(marker="device-dialog", retries=100)
    fill(user, modbus_port=cdab_server.port, byte_order="CDAB")
    user.find(marker="form-test").click()
    await user.should_see(marker="probe-registers", retries=100)
    assert user.find(marker="probe-status").elements.pop().text.startswith("Connection OK: value 75.32569")
    chosen = user.find(marker="decoding-float32-CDAB").elements.pop()
    assert "outline" not in chosen.props  # the order the form holds is the filled one
    assert "outline" in user.find(marker="decoding-float32-ABCD").elements.pop().props


async def test_a_failed_test_says_why_and_shows_no_decodings(
    user: User, admin: Account, sign_in, cdab_server: RawModbusServer, probe: None
) -> None:
    cdab_server.units[2].exception = 2  # illegal data address
    await sign_in(admin)
    await open_add_dialog(user)
    fill_connection(user, cdab_server.port)
    user.find(marker="form-test").click()
    await user.should_see(marker="probe-status", retries=100)
    assert user.find(marker="probe-status").elements.pop().text.startswith("Connection failed: ")
    await user.should_not_see(marker="decodings")


async def test_a_test_with_a_type_that_does_not_fit_the_count_marks_the_count(
    user: User, admin: Account, sign_in, cdab_server: RawModbusServer, probe: None
) -> None:
    await sign_in(admin)
    await open_add_dialog(user)
    fill_connection(user, cdab_server.port)
    fill(user, modbus_register_count=1)
    user.find(marker="form-test").click()
    count = field(user, "modbus_register_count")
    await eventually(lambda: count.error)
    assert count.error == "Register count 1 does not match Data type float32 (2 register(s))"
    assert cdab_server.requests == []


async def test_one_register_offers_only_the_two_byte_orders_that_differ(
    user: User, admin: Account, sign_in, cdab_server: RawModbusServer, probe: None
) -> None:
    await sign_in(admin)
    await open_add_dialog(user)
    fill_connection(user, cdab_server.port)
    fill(user, modbus_register_count=1, data_type="int16")
    user.find(marker="form-test").click()
    await user.should_see(marker="probe-registers", retries=100)
    assert user.find(marker="decoding-uint16-ABCD").elements.pop().text == "42,689"  # 0xA6C1
    assert user.find(marker="decoding-uint16-BADC").elements.pop().text == "49,574"  # 0xC1A6
    for order in ("CDAB", "DCBA"):  # the same two again: one register has no word order
        await user.should_not_see(marker=f"decoding-int16-{order}")
        await user.should_see(marker=f"no-decoding-int16-{order}")
    assert cdab_server.requests == [(2, 40, 1)]


THRESHOLDS = {
    "threshold_critical_lower": 50,
    "threshold_warning_lower": 40,
    "threshold_warning_upper": 30,
    "threshold_critical_upper": 20,
}
MESSAGES = {
    "en": {
        "modbus_register_count": "Register count 1 does not match Data type float32 (2 register(s))",
        "threshold_critical_lower": "Critical low (50) must be at most Warning low (40)",
        "threshold_warning_lower": "Warning low (40) must be below Warning high (30)",
        "threshold_warning_upper": "Warning high (30) must be at most Critical high (20)",
    },
    "zh": {
        "modbus_register_count": "寄存器数量 1 与数据类型 float32（2 个寄存器）不匹配",
        "threshold_critical_lower": "严重下限（50）不能大于警告下限（40）",
        "threshold_warning_lower": "警告下限（40）必须小于警告上限（30）",
        "threshold_warning_upper": "警告上限（30）不能大于严重上限（20）",
    },
}


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_every_broken_rule_is_shown_at_its_field_by_its_label(
    user: User, sign_in, make_account: Callable[..., Awaitable[Account]], language: str
) -> None:
    engineer = await make_account(f"engineer_{language}", Role.ADMIN, language)
    await sign_in(engineer)
    await open_add_dialog(user)
    user.find(marker="field-name").type("Boiler")
    user.find(marker="field-modbus_ip").type("10.0.0.5")
    fill(user, modbus_register_count=1, data_type="float32", **THRESHOLDS)
    user.find(marker="save").click()
    await eventually(lambda: field(user, "threshold_warning_upper").error)
    shown = {name: field(user, name).error for name in MESSAGES[language]}
    assert shown == MESSAGES[language]
    assert field(user, "threshold_critical_upper").error is None
    for message in shown.values():
        assert not re.search(r"modbus_|threshold_|data_type", message), message  # labels, not field names
    async with ddms.db.session_scope() as session:
        assert await devices.list_devices(session=session) == []


async def test_the_assistant_speaks_chinese(
    user: User,
    make_account: Callable[..., Awaitable[Account]],
    sign_in,
    cdab_server: RawModbusServer,
    probe: None,
) -> None:
    engineer = await make_account("engineer_zh", Role.ADMIN, "zh")
    await sign_in(engineer)
    await open_add_dialog(user)
    fill_connection(user, cdab_server.port)
    user.find(marker="form-test").click()
    await user.should_see(marker="probe-registers", retries=100)
    await user.should_see("读取的寄存器：0xA6C1 0x4296")
    assert user.find(marker="probe-status").elements.pop().text.startswith("连接正常：读取值 -1.3")
    assert user.find(marker="decoding-float32-CDAB").elements.pop().text == "75.32569"
    data = {
        "Plant DDMS",
        "engineer_zh",
        "Flow",
        "127.0.0.1",
        "0xA6C1",
        "0x4296",
        *(str(t) for t in DataType),
        *(str(o) for o in ByteOrder),
    }
    data |= set(re.findall(r"e-\d+", " ".join(texts(user))))  # scientific notation of the tiny values
    assert english_words(texts(user), data) == []
