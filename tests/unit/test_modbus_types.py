"""The Modbus type table against the definitions it encodes, written out independently here."""

from __future__ import annotations

import struct

from ddms.modbus_types import BYTE_ORDERS, TYPES, ByteOrder, DataType

# name -> (bits, signed, IEEE 754 float): from the Modbus register (16 bits) and the type names
DEFINITIONS = {
    "uint16": (16, False, False),
    "int16": (16, True, False),
    "uint32": (32, False, False),
    "int32": (32, True, False),
    "float32": (32, True, True),
    "uint64": (64, False, False),
    "int64": (64, True, False),
    "float64": (64, True, True),
}


def test_every_type_is_in_the_table_with_its_width_format_and_range() -> None:
    assert {t.value for t in DataType} == set(DEFINITIONS) == {t.value for t in TYPES}
    for name, (bits, signed, is_float) in DEFINITIONS.items():
        spec = TYPES[DataType(name)]
        assert spec.registers * 16 == bits, name
        assert struct.calcsize(spec.fmt) * 8 == bits, name
        assert spec.fmt.startswith(">"), name  # Modbus sends the most significant byte first
        assert (spec.signed, spec.is_float) == (signed, is_float), name
        if not is_float:
            assert spec.minimum == (-(2 ** (bits - 1)) if signed else 0), name
            assert spec.maximum == 2 ** (bits - 1 if signed else bits) - 1, name
    assert TYPES[DataType.FLOAT32].maximum == (2 - 2**-23) * 2**127
    assert TYPES[DataType.FLOAT64].maximum == (2 - 2**-52) * 2**1023
    assert TYPES[DataType.FLOAT32].digits == 9  # FLT_DECIMAL_DIG
    assert TYPES[DataType.FLOAT64].digits is None


def test_every_byte_order_is_in_the_table() -> None:
    assert set(BYTE_ORDERS) == set(ByteOrder) == {"ABCD", "DCBA", "BADC", "CDAB"}
