"""asyncio Modbus polling, decoding, the batched writer and the built-in simulator."""
