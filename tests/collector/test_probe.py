"""Test connection's read: the registers as the device sent them and every way to decode them.

A hand-written Modbus server (no pymodbus, no code of ours) holds a float32 in CDAB order, the word
swap many PLCs use. The expected numbers come from ``struct`` on hand-permuted bytes, not from the
decoder under test.
"""

from __future__ import annotations

import struct

import pytest

from collector.hub import DeviceOffline
from collector.probe import probe_device
from ddms.services.devices import ConnectionTarget
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.collector.test_hub import free_port

STORED = 75.32569  # float32 0x4296A6C1: bytes A=42 B=96 C=A6 D=C1
CDAB_WORDS = {10: 0xA6C1, 11: 0x4296}  # C D | A B on the wire


def as_float(wire: bytes) -> float:
    value: float = struct.unpack(">f", wire)[0]
    return value


def target(port: int, byte_order: str = "ABCD", **changes: object) -> ConnectionTarget:
    fields: dict[str, object] = {
        "modbus_ip": "127.0.0.1",
        "modbus_port": port,
        "modbus_slave_id": 3,
        "modbus_register": 10,
        "modbus_register_count": 2,
        "data_type": "float32",
        "byte_order": byte_order,
        "scale": 1.0,
        "offset": 0.0,
    } | changes
    return ConnectionTarget(**fields)  # type: ignore[arg-type]


async def test_a_cdab_float_read_as_abcd_shows_the_raw_registers_and_all_four_orders(
    raw_server: RawModbusServer,
) -> None:
    raw_server.units[3] = Unit(registers=CDAB_WORDS)
    reading = await probe_device(target(raw_server.port, "ABCD"), modbus_timeout=2.0)

    assert reading.registers == (0xA6C1, 0x4296)
    assert raw_server.requests == [(3, 10, 2)]
    wrong = as_float(bytes.fromhex("A6C14296"))  # what the ABCD setting stores today
    assert abs(wrong) < 1e-14  # a tiny number, shown as "-0": the symptom of the issue
    assert reading.value == pytest.approx(wrong, rel=1e-6)
    floats = {d.byte_order: d.value for d in reading.decodings if d.data_type == "float32"}
    assert set(floats) == {"ABCD", "CDAB", "BADC", "DCBA"}
    assert floats["CDAB"] == STORED  # the right order gives back the number the device holds
    assert floats["ABCD"] == pytest.approx(wrong, rel=1e-6)
    assert floats["BADC"] == pytest.approx(as_float(bytes.fromhex("C1A69642")), rel=1e-6)
    assert floats["DCBA"] == pytest.approx(as_float(bytes.fromhex("9642C1A6")), rel=1e-6)
    # the other types of two registers are offered too, in every order
    assert {(d.data_type, d.byte_order) for d in reading.decodings} == {
        (data_type, order)
        for data_type in ("uint32", "int32", "float32")
        for order in ("ABCD", "CDAB", "BADC", "DCBA")
    }
    uint32 = {d.byte_order: d.value for d in reading.decodings if d.data_type == "uint32"}
    assert uint32["CDAB"] == 0x4296A6C1
    assert uint32["ABCD"] == 0xA6C14296


async def test_the_right_order_decodes_with_scale_and_offset(raw_server: RawModbusServer) -> None:
    raw_server.units[3] = Unit(registers=CDAB_WORDS)
    reading = await probe_device(target(raw_server.port, "CDAB", scale=2.0, offset=1.0), modbus_timeout=2.0)
    assert reading.value == pytest.approx(STORED * 2 + 1)
    assert reading.error is None
    floats = {d.byte_order: d.value for d in reading.decodings if d.data_type == "float32"}
    assert floats["CDAB"] == pytest.approx(STORED * 2 + 1)


async def test_a_pattern_that_is_no_number_keeps_the_registers_and_the_other_decodings(
    raw_server: RawModbusServer,
) -> None:
    raw_server.units[3] = Unit(registers={10: 0x7FC0, 11: 0x0000})  # ABCD: a NaN
    reading = await probe_device(target(raw_server.port, "ABCD"), modbus_timeout=2.0)
    assert reading.value is None
    assert reading.error is not None
    assert "not finite" in reading.error
    assert reading.registers == (0x7FC0, 0x0000)
    floats = {d.byte_order: d.value for d in reading.decodings if d.data_type == "float32"}
    assert floats["ABCD"] is None
    assert floats["CDAB"] == pytest.approx(as_float(bytes.fromhex("00007FC0")), rel=1e-6)


async def test_one_register_offers_the_16_bit_types(raw_server: RawModbusServer) -> None:
    raw_server.units[3] = Unit(registers={10: 0xFF38})
    one = target(raw_server.port, modbus_register_count=1, data_type="int16")
    reading = await probe_device(one, modbus_timeout=2.0)
    assert reading.value == -200
    values = {(d.data_type, d.byte_order): d.value for d in reading.decodings}
    assert {data_type for data_type, _order in values} == {"uint16", "int16"}
    assert {order for _type, order in values} == {"ABCD", "BADC"}, "one register has no word order"
    assert values[("uint16", "ABCD")] == 0xFF38
    assert values[("uint16", "BADC")] == 0x38FF


async def test_nothing_to_read_raises() -> None:
    with pytest.raises(DeviceOffline):
        await probe_device(target(free_port()), modbus_timeout=2.0)
