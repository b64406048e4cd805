"""One real read of a device for test connection (``POST /api/devices/{id}/test-connection`` and
``POST /api/devices/test``, and the form's Test button).

The composition root installs ``probe_device`` in the runtime, so the services can test a connection
without importing the collector. When a running collector already has a connection to the target's
host:port, the read goes over it (gateways often accept only a few connections); otherwise a
connection is opened for this one read and closed again.

The answer keeps the registers as they came and decodes them every way their count allows, so a
wrong byte order shows as the right number in another column instead of as a plausible-looking
wrong value (a CDAB float read as ABCD is often a tiny denormal that prints as -0).
"""

from __future__ import annotations

from collector.decode import DecodeError, decode, decodings
from collector.hub import Hub
from ddms import runtime
from ddms.modbus_types import ModbusTarget, ProbeReading


async def read_registers(target: ModbusTarget, *, modbus_timeout: float) -> list[int]:
    """The target's registers, over a running collector's link when it has one to that host:port."""
    address = (target.modbus_slave_id, target.modbus_register, target.modbus_register_count)
    for collector in runtime.current().collectors:
        hub = collector.pool.get(target.modbus_ip, target.modbus_port)
        if hub is not None and not hub.closed:
            return list(await hub.read_holding(*address))
    hub = Hub(target.modbus_ip, target.modbus_port, timeout=modbus_timeout, retries=0, pipeline_depth=1)
    try:
        return list(await hub.read_holding(*address))
    finally:
        await hub.close()


async def probe_device(target: ModbusTarget, *, modbus_timeout: float) -> ProbeReading:
    """The registers read, their value as configured (or why it does not decode) and every decoding;
    a ModbusFailure when nothing could be read."""
    registers = await read_registers(target, modbus_timeout=modbus_timeout)
    value: float | None = None
    error: str | None = None
    try:
        value = decode(registers, target.data_type, target.byte_order, target.scale, target.offset)
    except DecodeError as exc:
        error = str(exc)
    return ProbeReading(
        registers=tuple(registers),
        value=value,
        error=error,
        decodings=decodings(registers, target.scale, target.offset),
    )
