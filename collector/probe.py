"""One real read of a device for ``POST /api/devices/{id}/test-connection``.

The composition root hands ``probe_device`` to the API (``app.state.modbus_probe``), so the REST
layer can test a connection without importing the collector. When a running collector already
has a connection to the device's host:port, the read goes over it (gateways often accept only a
few connections); otherwise a connection is opened for this one read and closed again.
"""

from __future__ import annotations

from collector.decode import decode
from collector.hub import Hub
from ddms import runtime
from ddms.models import Device


async def probe_device(device: Device, *, modbus_timeout: float) -> float:
    """The decoded value of ``device``'s register, or a ModbusFailure/DecodeError saying why not."""
    for collector in runtime.current().collectors:
        hub = collector.pool.get(device.modbus_ip, device.modbus_port)
        if hub is not None and not hub.closed:
            registers = await hub.read_holding(
                device.modbus_slave_id, device.modbus_register, device.modbus_register_count
            )
            break
    else:
        hub = Hub(device.modbus_ip, device.modbus_port, timeout=modbus_timeout, retries=0, pipeline_depth=1)
        try:
            registers = await hub.read_holding(
                device.modbus_slave_id, device.modbus_register, device.modbus_register_count
            )
        finally:
            await hub.close()
    return decode(registers, device.data_type, device.byte_order, device.scale, device.offset)
