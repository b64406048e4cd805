"""Registers to a value, and back. Pure, driven by the type table in ``ddms.modbus_types``.

A Modbus register is 16 bits, sent big-endian. Devices disagree on how multi-register values are
laid out, so the device's ``byte_order`` names the order of the bytes A (most significant) .. D/H:

=====  ==========================  ==================================
order  bytes on the wire (32 bit)  meaning
=====  ==========================  ==================================
ABCD   A B | C D                   big-endian (the Modbus default)
DCBA   D C | B A                   little-endian
BADC   B A | D C                   bytes swapped inside each register
CDAB   C D | A B                   registers (words) swapped
=====  ==========================  ==================================

The same rules extend to 64-bit values (four registers) and to single registers (ABCD/CDAB keep the
register as it is, DCBA/BADC swap its two bytes). The value is ``raw * scale + offset``; a result that
is not finite (NaN, infinity) is an error, never a reading. A float32 leaves with the digits it
carries (the table's ``digits``), not with the float64 noise of widening it: 75.32569, not
75.32569122314453.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from ddms.modbus_types import (
    BYTE_ORDERS,
    TYPES,
    ByteOrder,
    DataType,
    Decoding,
    TypeSpec,
    orders_for_count,
    types_for_count,
)


class DecodeError(ValueError):
    """The registers cannot be turned into a valid value (wrong length, not finite, unknown type)."""


_REGISTER_PACKERS = {n: struct.Struct(f">{n}H") for n in (1, 2, 4)}


def _spec(data_type: str, byte_order: str) -> tuple[TypeSpec, bool, bool]:
    try:
        spec = TYPES[DataType(data_type)]
        swap_bytes, reverse_words = BYTE_ORDERS[ByteOrder(byte_order)]
    except ValueError as exc:
        raise DecodeError(f"unsupported data type or byte order: {exc}") from None
    return spec, swap_bytes, reverse_words


def _reorder(registers: Sequence[int], swap_bytes: bool, reverse_words: bool) -> list[int]:
    """Wire order -> big-endian order (the transformation is its own inverse)."""
    words = list(reversed(registers)) if reverse_words else list(registers)
    if swap_bytes:
        words = [((word & 0xFF) << 8) | (word >> 8) for word in words]
    return words


def _shortest(value: float, spec: TypeSpec, digits: int) -> float:
    """The number with the fewest significant digits (at most ``digits``) that is still ``value``
    when stored as ``spec``: a float32 read as 75.32569122314453 is the float32 of 75.32569.

    Rounding to a fixed 7 digits would not do: 16777216.0 is a float32, 16777220 is another one.
    The nearest n-digit decimal reads back as ``value`` for every n from some point on, so the
    shortest is found by bisection (a subnormal float32 may need a single digit: 1e-45).
    """
    exact = struct.pack(spec.fmt, value)
    low, high = 1, digits  # ``high`` digits always read back as ``value``
    while low < high:
        width = (low + high) // 2
        if _reads_back(float(f"{value:.{width}g}"), spec.fmt, exact):
            high = width
        else:
            low = width + 1
    return float(f"{value:.{high}g}")


def _reads_back(candidate: float, fmt: str, exact: bytes) -> bool:
    try:
        return struct.pack(fmt, candidate) == exact
    except OverflowError:  # rounded up past the largest finite value
        return False


def decode_raw(registers: Sequence[int], data_type: str, byte_order: str) -> float:
    """The raw number the registers hold, before scale and offset (a float32 with no more digits
    than it carries)."""
    spec, swap_bytes, reverse_words = _spec(data_type, byte_order)
    if len(registers) != spec.registers:
        raise DecodeError(
            f"{data_type} needs {spec.registers} register(s), the device returned {len(registers)}"
        )
    words = _reorder(registers, swap_bytes, reverse_words)
    raw = _REGISTER_PACKERS[spec.registers].pack(*words)
    value: float = struct.unpack(spec.fmt, raw)[0]
    if spec.digits is not None and math.isfinite(value):
        value = _shortest(value, spec, spec.digits)
    return value


def decode(
    registers: Sequence[int], data_type: str, byte_order: str, scale: float = 1.0, offset: float = 0.0
) -> float:
    """``raw * scale + offset``; DecodeError for a wrong register count or a non-finite value."""
    value = float(decode_raw(registers, data_type, byte_order)) * scale + offset
    if not math.isfinite(value):
        raise DecodeError(f"value is not finite ({value})")
    if scale != 1.0 or offset != 0.0:
        # Drop binary noise from the arithmetic (239 * 0.1 = 23.900000000000002) without losing
        # precision a device can carry: 15 significant digits is what a double holds reliably.
        value = float(f"{value:.15g}")
    return value


def encode(value: float, data_type: str, byte_order: str) -> list[int]:
    """The registers a device using ``data_type``/``byte_order`` sends for ``value`` (the simulator's side).

    Integer types round to the nearest integer and must fit the type's range.
    """
    spec, swap_bytes, reverse_words = _spec(data_type, byte_order)
    number: float | int = value if spec.is_float else round(value)
    if not spec.is_float and not spec.minimum <= number <= spec.maximum:
        raise DecodeError(f"{value} does not fit {data_type} ({spec.minimum:g} .. {spec.maximum:g})")
    try:
        raw = struct.pack(spec.fmt, number)  # a float rounds to the nearest value of the type
    except OverflowError:
        raise DecodeError(f"{value} does not fit {data_type} (beyond ±{spec.maximum:g})") from None
    words = list(_REGISTER_PACKERS[spec.registers].unpack(raw))
    return _reorder(words, swap_bytes, reverse_words)


def decodings(registers: Sequence[int], scale: float = 1.0, offset: float = 0.0) -> tuple[Decoding, ...]:
    """The registers read as every data type of their count in every byte order that differs for it
    (test connection's decode assistant: the engineer picks the reading that makes sense)."""
    found = []
    for data_type in types_for_count(len(registers)):
        for byte_order in orders_for_count(len(registers)):
            try:
                value: float | None = decode(registers, data_type, byte_order, scale, offset)
            except DecodeError:
                value = None
            found.append(Decoding(data_type, byte_order, value))
    return tuple(found)
