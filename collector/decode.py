"""Registers to a value, and back. Pure and table-driven.

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
is not finite (NaN, infinity) is an error, never a reading.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass


class DecodeError(ValueError):
    """The registers cannot be turned into a valid value (wrong length, not finite, unknown type)."""


@dataclass(frozen=True, slots=True)
class TypeSpec:
    registers: int
    fmt: str  # struct format of the big-endian value


DATA_TYPES: dict[str, TypeSpec] = {
    "uint16": TypeSpec(1, ">H"),
    "int16": TypeSpec(1, ">h"),
    "uint32": TypeSpec(2, ">I"),
    "int32": TypeSpec(2, ">i"),
    "float32": TypeSpec(2, ">f"),
    "uint64": TypeSpec(4, ">Q"),
    "int64": TypeSpec(4, ">q"),
    "float64": TypeSpec(4, ">d"),
}

# (swap the two bytes inside each register, reverse the order of the registers)
BYTE_ORDERS: dict[str, tuple[bool, bool]] = {
    "ABCD": (False, False),
    "DCBA": (True, True),
    "BADC": (True, False),
    "CDAB": (False, True),
}

_REGISTER_PACKERS = {n: struct.Struct(f">{n}H") for n in (1, 2, 4)}


def _spec(data_type: str, byte_order: str) -> tuple[TypeSpec, bool, bool]:
    try:
        spec = DATA_TYPES[data_type]
        swap_bytes, reverse_words = BYTE_ORDERS[byte_order]
    except KeyError as exc:
        raise DecodeError(f"unsupported data type or byte order: {exc.args[0]}") from None
    return spec, swap_bytes, reverse_words


def _reorder(registers: Sequence[int], swap_bytes: bool, reverse_words: bool) -> list[int]:
    """Wire order -> big-endian order (the transformation is its own inverse)."""
    words = list(reversed(registers)) if reverse_words else list(registers)
    if swap_bytes:
        words = [((word & 0xFF) << 8) | (word >> 8) for word in words]
    return words


def registers_needed(data_type: str) -> int:
    return _spec(data_type, "ABCD")[0].registers


def decode_raw(registers: Sequence[int], data_type: str, byte_order: str) -> float:
    """The raw number the registers hold, before scale and offset."""
    spec, swap_bytes, reverse_words = _spec(data_type, byte_order)
    if len(registers) != spec.registers:
        raise DecodeError(
            f"{data_type} needs {spec.registers} register(s), the device returned {len(registers)}"
        )
    words = _reorder(registers, swap_bytes, reverse_words)
    raw = _REGISTER_PACKERS[spec.registers].pack(*words)
    value: float = struct.unpack(spec.fmt, raw)[0]
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
    number: float | int = value if data_type.startswith("float") else round(value)
    try:
        raw = struct.pack(spec.fmt, number)
    except struct.error as exc:
        raise DecodeError(f"{value} does not fit {data_type}: {exc}") from None
    words = list(_REGISTER_PACKERS[spec.registers].unpack(raw))
    return _reorder(words, swap_bytes, reverse_words)
