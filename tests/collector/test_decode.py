"""Decoding is table-driven and exact: known register images for every type and byte order."""

from __future__ import annotations

import math
import random
import struct

import pytest
from pymodbus.client.mixin import ModbusClientMixin

from collector.decode import DecodeError, decode, encode

# (data type, byte order, registers as the device sends them, expected value)
VECTORS = [
    ("uint16", "ABCD", [0x1234], 0x1234),
    ("uint16", "BADC", [0x3412], 0x1234),
    ("int16", "ABCD", [0xFFFE], -2),
    ("int16", "DCBA", [0xFEFF], -2),
    ("int16", "CDAB", [0x8000], -32768),
    ("uint32", "ABCD", [0x1234, 0x5678], 0x12345678),
    ("uint32", "DCBA", [0x7856, 0x3412], 0x12345678),
    ("uint32", "BADC", [0x3412, 0x7856], 0x12345678),
    ("uint32", "CDAB", [0x5678, 0x1234], 0x12345678),
    ("int32", "ABCD", [0xFFFE, 0x1DC0], -123456),
    ("int32", "CDAB", [0x1DC0, 0xFFFE], -123456),
    ("float32", "ABCD", [0x3FC0, 0x0000], 1.5),
    ("float32", "DCBA", [0x0000, 0xC03F], 1.5),
    ("float32", "BADC", [0xC03F, 0x0000], 1.5),
    ("float32", "CDAB", [0x0000, 0x3FC0], 1.5),
    ("float32", "ABCD", [0xC2F6, 0xE979], -123.456),  # the float32 of -123.456, not -123.45600128173828
    # 64-bit integers below 2**53, so the float a reading holds is exact
    ("uint64", "ABCD", [0x0001, 0x0203, 0x0405, 0x0607], 0x0001020304050607),
    ("uint64", "DCBA", [0x0706, 0x0504, 0x0302, 0x0100], 0x0001020304050607),
    ("uint64", "BADC", [0x0100, 0x0302, 0x0504, 0x0706], 0x0001020304050607),
    ("uint64", "CDAB", [0x0607, 0x0405, 0x0203, 0x0001], 0x0001020304050607),
    ("int64", "ABCD", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], -1),
    ("float64", "ABCD", [0xC004, 0x0000, 0x0000, 0x0000], -2.5),
    ("float64", "CDAB", [0x0000, 0x0000, 0x0000, 0xC004], -2.5),
]


@pytest.mark.parametrize(("data_type", "order", "registers", "expected"), VECTORS)
def test_every_type_and_byte_order_decodes_exactly(
    data_type: str, order: str, registers: list[int], expected: float
) -> None:
    assert decode(registers, data_type, order) == expected
    assert encode(expected, data_type, order) == registers


@pytest.mark.parametrize(
    ("data_type", "registers"),
    [
        ("float32", [0x3FC0, 0x0000]),
        ("int32", [0xFFFE, 0x1DC0]),
        ("uint64", [1, 2, 3, 4]),
        ("float64", [0xC004, 0, 0, 0]),
        ("int16", [0xFFFE]),
    ],
)
def test_big_endian_agrees_with_pymodbus(data_type: str, registers: list[int]) -> None:
    """An independent implementation (pymodbus's converter) reads the same number."""
    kind = getattr(ModbusClientMixin.DATATYPE, data_type.upper())
    theirs = ModbusClientMixin.convert_from_registers(registers, kind)
    assert decode(registers, data_type, "ABCD") == theirs


def test_scale_and_offset_apply_after_decoding() -> None:
    assert decode([215], "int16", "ABCD", scale=0.1, offset=0) == pytest.approx(21.5)
    assert decode([0xFFFE], "int16", "ABCD", scale=10, offset=5) == -15
    assert decode([0x3FC0, 0], "float32", "ABCD", scale=2, offset=-1) == 2.0


@pytest.mark.parametrize("registers", [[0x7FC0, 0x0000], [0x7F80, 0x0000], [0xFF80, 0x0000]])
def test_non_finite_values_are_errors(registers: list[int]) -> None:
    with pytest.raises(DecodeError, match="not finite"):
        decode(registers, "float32", "ABCD")


def test_overflow_to_infinity_through_scale_is_an_error() -> None:
    with pytest.raises(DecodeError):
        decode([0x7F7F, 0xFFFF], "float32", "ABCD", scale=1e300)


@pytest.mark.parametrize(
    ("data_type", "registers"), [("float32", [1]), ("uint16", [1, 2]), ("float64", [1, 2])]
)
def test_wrong_register_count_is_an_error(data_type: str, registers: list[int]) -> None:
    with pytest.raises(DecodeError, match="register"):
        decode(registers, data_type, "ABCD")


def test_result_is_finite_float() -> None:
    assert math.isfinite(decode([0, 1], "uint32", "DCBA"))


def test_scaled_values_carry_no_binary_noise() -> None:
    """A tenths-scaled int16 of 239 is stored and shown as 23.9, not 23.900000000000002."""
    assert decode([239], "int16", "ABCD", scale=0.1) == 23.9
    assert str(decode([0xFFFF], "int16", "ABCD", scale=0.1, offset=0.3)) == "0.2"
    assert str(decode([1001], "uint16", "ABCD", scale=0.01)) == "10.01"


# float32 bit patterns and the shortest decimal that reads back as each (what C's printf("%.9g")
# would print once trailing noise is dropped, and what numpy shows for a float32)
FLOAT32_SHORTEST = [
    (0x3DCCCCCD, 0.1),  # float64 of it: 0.10000000149011612
    (0x3F800001, 1.0000001),  # the next float32 after 1.0: 1.0000001192092896
    (0x4296A6C1, 75.32569),  # the simulator's boiler, once shown as 75.32569122314453
    (0x4B800000, 16777216.0),  # 2**24: exact, and 7 digits would make it 16777220
    (0x4B7FFFFF, 16777215.0),
    (0x7F7FFFFF, 3.4028235e38),  # the largest finite float32
    (0x00000001, 1e-45),  # the smallest subnormal
    (0xBF9D70A4, -1.23),
]


@pytest.mark.parametrize(("bits", "shortest"), FLOAT32_SHORTEST)
def test_float32_leaves_with_its_own_digits_not_float64_noise(bits: int, shortest: float) -> None:
    registers = [bits >> 16, bits & 0xFFFF]
    assert decode(registers, "float32", "ABCD") == shortest
    assert encode(shortest, "float32", "ABCD") == registers  # the same float32, nothing lost


def test_every_float32_decodes_to_a_decimal_that_is_the_same_float32() -> None:
    rng = random.Random(20261201)
    for _ in range(5000):
        bits = rng.getrandbits(32)
        (wide,) = struct.unpack(">f", bits.to_bytes(4, "big"))
        if not math.isfinite(wide):
            continue
        value = decode([bits >> 16, bits & 0xFFFF], "float32", "ABCD")
        assert struct.pack(">f", value) == bits.to_bytes(4, "big"), hex(bits)
        assert len(f"{value:e}".split("e")[0].replace("-", "").replace(".", "").rstrip("0")) <= 9


def test_float64_and_integers_keep_every_digit() -> None:
    noisy = 0.1 + 0.2  # 0.30000000000000004: a float64 carries these digits, the decoder keeps them
    registers = encode(noisy, "float64", "ABCD")
    assert decode(registers, "float64", "ABCD") == noisy
    assert decode([0x1234, 0x5678], "uint32", "ABCD") == 0x12345678
    assert decode([0x0000, 0x0000, 0x0000, 0x0001], "int64", "ABCD") == 1


def test_float32_rounding_then_scale_and_offset_carry_no_noise() -> None:
    boiler = [0x4296, 0xA6C1]  # 75.32569 as a float32
    assert decode(boiler, "float32", "ABCD", scale=0.1) == 7.532569
    assert decode(boiler, "float32", "ABCD", offset=0.1) == 75.42569
    assert str(decode([0xA6C1, 0x4296], "float32", "CDAB", scale=2, offset=-1)) == "149.65138"


def test_encode_refuses_values_outside_the_type() -> None:
    with pytest.raises(DecodeError, match="does not fit uint16"):
        encode(65536, "uint16", "ABCD")
    with pytest.raises(DecodeError, match="does not fit int16"):
        encode(-32769, "int16", "ABCD")
    with pytest.raises(DecodeError, match="does not fit float32"):
        encode(1e39, "float32", "ABCD")
    assert encode(-32768, "int16", "ABCD") == [0x8000]
