"""A second, independent Modbus TCP server, written from the frame format (MBAP + FC 0x03).

It shares no code with pymodbus or the collector, so the collector is not proven only against the
library it is tested with. Per unit id it can hold registers, stay silent, answer an exception
code, answer garbage / a short frame / under another unit id, hold its answers until the test
releases them, or send them one byte per TCP segment. A dead unit (``silent``) never answers; the
server stamps each request with ``clock`` when a test gives it one (when it was asked, on the
test's time line), so a test can tell how often a dead unit was asked and for how long.
Tests wait on what it has received (``wait_until``), never on time.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ddms.clock import Clock


@dataclass
class Unit:
    registers: dict[int, int] = field(default_factory=dict)
    silent: bool = False
    exception: int | None = None
    garbage: bool = False  # a header that breaks framing
    short: bool = False  # a well-framed answer with one register too few
    hold: asyncio.Event | None = None  # answers wait until the test sets it (no timing involved)
    wrong_unit: bool = False  # a well-formed answer, from unit id + 1
    # Send the answer one byte at a time, awaiting ``split(bytes sent so far)`` after each byte (the
    # test waits there until the client has received it, so every byte is a segment of its own).
    split: Callable[[int], Awaitable[None]] | None = None


class RawModbusServer:
    def __init__(self) -> None:
        self.units: dict[int, Unit] = {}
        self.requests: list[tuple[int, int, int]] = []  # (unit, address, count)
        self.connections = 0
        self.outstanding = 0  # requests received and not answered (or dropped) yet
        self.most_outstanding = 0
        self.answered = 0  # answer frames written
        self.clock: Clock | None = None
        self.stamps: list[tuple[int, float]] = []  # (unit, clock time) per request, with a clock
        self._changed = asyncio.Condition()
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

    async def wait_until(self, check: Callable[[], bool], within: float = 30.0) -> None:
        """Wait until ``check`` holds (checked each time a request arrives or is answered)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(check)

    async def _note(self, change: int) -> None:
        self.outstanding += change
        self.most_outstanding = max(self.most_outstanding, self.outstanding)
        async with self._changed:
            self._changed.notify_all()

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
        if self.clock is not None:
            self.stamps.append((unit_id, self.clock.time()))
        await self._note(+1)
        try:
            frame = await self._answer_frame(tid, unit_id, function, address, count)
            if frame is None or writer.is_closing():
                return
            unit = self.units[unit_id]
            self.answered += 1
            if unit.split is None:
                writer.write(frame)
                return
            for sent in range(1, len(frame) + 1):
                writer.write(frame[sent - 1 : sent])
                await writer.drain()
                await unit.split(sent)
        finally:
            await self._note(-1)

    async def _answer_frame(
        self, tid: int, unit_id: int, function: int, address: int, count: int
    ) -> bytes | None:
        unit = self.units.get(unit_id)
        if unit is None or unit.silent:
            return None
        if unit.hold is not None:
            await unit.hold.wait()
        if unit.garbage:
            return b"\x13\x37\xde\xad\xbe\xef\x00\x01\x02"
        if function != 3:
            body = bytes([function | 0x80, 1])
        elif unit.exception is not None:
            body = bytes([0x83, unit.exception])
        else:
            answered = count - 1 if unit.short else count
            values = [unit.registers.get(address + i, 0) for i in range(answered)]
            body = struct.pack(f">BB{answered}H", 3, 2 * answered, *values)
        sender = unit_id + 1 if unit.wrong_unit else unit_id
        return struct.pack(">HHHB", tid, 0, len(body) + 1, sender) + body
