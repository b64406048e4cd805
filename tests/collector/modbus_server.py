"""A second, independent Modbus TCP server, written from the frame format (MBAP + FC 0x03).

It shares no code with pymodbus or the collector, so the collector is not proven only against the
library it is tested with. Per unit id it can hold registers, stay silent, answer an exception
code, or answer garbage / a short frame, or hold its answers until the test releases them.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field


@dataclass
class Unit:
    registers: dict[int, int] = field(default_factory=dict)
    silent: bool = False
    exception: int | None = None
    garbage: bool = False  # a header that breaks framing
    short: bool = False  # a well-framed answer with one register too few
    delay: float = 0.0
    hold: asyncio.Event | None = None  # answers wait until the test sets it (no timing involved)


class RawModbusServer:
    def __init__(self) -> None:
        self.units: dict[int, Unit] = {}
        self.requests: list[tuple[int, int, int]] = []  # (unit, address, count)
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                header = await reader.readexactly(7)
                tid, _proto, length, unit_id = struct.unpack(">HHHB", header)
                pdu = await reader.readexactly(length - 1)
                task = asyncio.get_running_loop().create_task(self._answer(writer, tid, unit_id, pdu))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, tid: int, unit_id: int, pdu: bytes) -> None:
        function, address, count = struct.unpack(">BHH", pdu[:5])
        self.requests.append((unit_id, address, count))
        unit = self.units.get(unit_id)
        if unit is None or unit.silent:
            return
        if unit.delay:
            await asyncio.sleep(unit.delay)
        if unit.hold is not None:
            await unit.hold.wait()
        if writer.is_closing():
            return
        if unit.garbage:
            writer.write(b"\x13\x37\xde\xad\xbe\xef\x00\x01\x02")
            return
        if function != 3:
            body = bytes([function | 0x80, 1])
        elif unit.exception is not None:
            body = bytes([0x83, unit.exception])
        else:
            answered = count - 1 if unit.short else count
            values = [unit.registers.get(address + i, 0) for i in range(answered)]
            body = struct.pack(f">BB{answered}H", 3, 2 * answered, *values)
        writer.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit_id) + body)
