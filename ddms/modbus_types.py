"""The Modbus value types and byte orders: the one table models, services and the collector read.

A Modbus register holds 16 bits. A device's ``data_type`` says how many registers its value spans
and how those bits read as a number; its ``byte_order`` says how a device lays the bytes of a
multi-register value on the wire. Validation (``modbus_register_count`` must match the type), the
API's enums and the decoder all come from here, so a type cannot be added, or its width changed,
in one of them and not the others. Test connection's shapes live here too: what it reads
(``ModbusTarget``, a saved device or a form's unsaved values) and what the collector's probe answers
(``ProbeReading``: the raw registers and their value in every type of their count and every order).

Pure: no I/O, no imports beyond the standard library.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

REGISTER_BITS = 16


class DataType(StrEnum):
    UINT16 = "uint16"
    INT16 = "int16"
    UINT32 = "uint32"
    INT32 = "int32"
    FLOAT32 = "float32"
    UINT64 = "uint64"
    INT64 = "int64"
    FLOAT64 = "float64"


class ByteOrder(StrEnum):
    """Byte A is the most significant; the name lists the bytes in the order they are sent."""

    ABCD = "ABCD"  # big-endian (the Modbus default)
    DCBA = "DCBA"  # little-endian
    BADC = "BADC"  # bytes swapped inside each register
    CDAB = "CDAB"  # registers (words) swapped


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """What one data type is on the wire and as a number.

    ``digits``: for a float, the significant decimal digits that tell any two of its values apart
    (9 for IEEE 754 binary32); a reading (a float64) shows a float32 with the fewest digits that still
    read back as the same float32, instead of the float64 noise of the conversion
    (75.32569, not 75.32569122314453). None: the value is exact as a float64 (a float64, or an
    integer up to 2**53), nothing to drop.
    """

    registers: int
    fmt: str  # struct format of the big-endian value
    signed: bool
    is_float: bool
    digits: int | None = None

    @property
    def bits(self) -> int:
        return self.registers * REGISTER_BITS

    @property
    def minimum(self) -> float:
        """The smallest value the type holds (the most negative finite one for a float)."""
        if self.is_float:
            return -self.maximum
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def maximum(self) -> float:
        """The largest value the type holds (the largest finite one for a float)."""
        if self.is_float:
            # IEEE 754: the bit pattern just below +infinity is the largest finite value
            below_infinity = int.from_bytes(struct.pack(self.fmt, math.inf), "big") - 1
            value: float = struct.unpack(self.fmt, below_infinity.to_bytes(self.bits // 8, "big"))[0]
            return value
        return (1 << (self.bits - (1 if self.signed else 0))) - 1


TYPES: Mapping[DataType, TypeSpec] = MappingProxyType(
    {
        DataType.UINT16: TypeSpec(1, ">H", signed=False, is_float=False),
        DataType.INT16: TypeSpec(1, ">h", signed=True, is_float=False),
        DataType.UINT32: TypeSpec(2, ">I", signed=False, is_float=False),
        DataType.INT32: TypeSpec(2, ">i", signed=True, is_float=False),
        DataType.FLOAT32: TypeSpec(2, ">f", signed=True, is_float=True, digits=9),
        DataType.UINT64: TypeSpec(4, ">Q", signed=False, is_float=False),
        DataType.INT64: TypeSpec(4, ">q", signed=True, is_float=False),
        DataType.FLOAT64: TypeSpec(4, ">d", signed=True, is_float=True),
    }
)

# (swap the two bytes inside each register, reverse the order of the registers)
BYTE_ORDERS: Mapping[ByteOrder, tuple[bool, bool]] = MappingProxyType(
    {
        ByteOrder.ABCD: (False, False),
        ByteOrder.DCBA: (True, True),
        ByteOrder.BADC: (True, False),
        ByteOrder.CDAB: (False, True),
    }
)


def registers_of(data_type: str) -> int:
    """Registers a value of ``data_type`` spans; ValueError for an unknown type."""
    return TYPES[DataType(data_type)].registers


def types_for_count(count: int) -> list[DataType]:
    """The data types a value of ``count`` registers can be, in the table's order (empty: none)."""
    return [data_type for data_type, spec in TYPES.items() if spec.registers == count]


def orders_for_count(count: int) -> list[ByteOrder]:
    """The byte orders that differ for ``count`` registers: one register has no word order, so AB
    (ABCD, and CDAB reads the same) and BA (BADC, the same as DCBA) are all there is."""
    return [ByteOrder.ABCD, ByteOrder.BADC] if count == 1 else list(ByteOrder)


# --- test connection ---------------------------------------------------------------------------
class ModbusTarget(Protocol):
    """Where one value lives and how it reads: a saved ``Device``, or a form's values not saved yet."""

    @property
    def modbus_ip(self) -> str: ...
    @property
    def modbus_port(self) -> int: ...
    @property
    def modbus_slave_id(self) -> int: ...
    @property
    def modbus_register(self) -> int: ...
    @property
    def modbus_register_count(self) -> int: ...
    @property
    def data_type(self) -> str: ...
    @property
    def byte_order(self) -> str: ...
    @property
    def scale(self) -> float: ...
    @property
    def offset(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Decoding:
    """The registers read as ``data_type`` in ``byte_order`` (after scale and offset); None: not a
    finite number that way (a NaN or infinity pattern)."""

    data_type: DataType
    byte_order: ByteOrder
    value: float | None


@dataclass(frozen=True, slots=True)
class ProbeReading:
    """One real read: the registers as the device sent them, the value as the target says to decode it
    (None with ``error`` when it does not decode), and every decoding the register count allows."""

    registers: tuple[int, ...]
    value: float | None
    error: str | None
    decodings: tuple[Decoding, ...]
