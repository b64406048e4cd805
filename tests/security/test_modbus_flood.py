"""A hostile Modbus TCP peer: frames nobody asked for must not keep a link alive or cost a CPU core.

The peer is a hand-written asyncio server on 127.0.0.1 (the style of tests/collector/modbus_server.py)
that either floods every connection with well-formed FC 0x03 answers carrying transaction ids the
client never used, or answers every request once, with the wrong transaction id. Its loops are
bounded in frames and time and end by themselves.

The assertions count things (frames parsed, connections opened, requests asked) instead of timing
them: the reconnect backoff runs on a clock the test moves by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import time
from collections.abc import AsyncIterator

import pytest

from collector.hub import UNSOLICITED_LIMIT, BadResponse, Hub, RequestTimeout
from collector.runner import Collector
from ddms import db
from ddms.bus import StatusChange, get_bus
from ddms.config import Settings, load_settings
from tests.bus_events import subscribe
from tests.clock import FakeClock
from tests.collector.conftest import add_device, device_row, eventually

FLOOD_FRAMES = 200_000  # per connection, at most
FLOOD_SECONDS = 20.0  # per connection, at most
BATCH = 256  # frames per write
FOREIGN_TIDS = (0x8000, 0x10000)  # a hub numbers its requests from 1: it never reaches these in a test


def answer(tid: int, unit: int = 1, value: int = 0x4242) -> bytes:
    """A well-formed FC 0x03 answer with one register (framing stays intact: only the tid is wrong)."""
    return struct.pack(">HHHBBBH", tid, 0, 5, unit, 0x03, 2, value)


class HostilePeer:
    """``flood``: from the moment a client connects, answers to no request (random foreign tids).
    ``wrong_tid``: every request is answered once, promptly, under another transaction id."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.requests = 0
        self.frames_written = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._floods: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.port

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._floods):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        flood = None
        if self.mode == "flood":
            rng = random.Random(self.connections)
            flood = asyncio.get_running_loop().create_task(self._flood(writer, rng))
            self._floods.add(flood)
            flood.add_done_callback(self._floods.discard)
        try:
            while True:
                header = await reader.readexactly(7)
                tid, _proto, length, unit = struct.unpack(">HHHB", header)
                await reader.readexactly(length - 1)
                self.requests += 1
                if self.mode == "wrong_tid":
                    writer.write(answer(tid ^ 0x4000, unit))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if flood is not None:
                flood.cancel()
            self._writers.discard(writer)
            writer.transport.abort()

    async def _flood(self, writer: asyncio.StreamWriter, rng: random.Random) -> None:
        batches = [b"".join(answer(rng.randrange(*FOREIGN_TIDS)) for _ in range(BATCH)) for _ in range(8)]
        ends = time.monotonic() + FLOOD_SECONDS
        written = 0
        with contextlib.suppress(ConnectionError):
            while written < FLOOD_FRAMES and time.monotonic() < ends and not writer.is_closing():
                writer.write(batches[written // BATCH % len(batches)])
                written += BATCH
                self.frames_written += BATCH
                await writer.drain()


@pytest.fixture
async def running_collector(database: db.Database, settings: Settings) -> AsyncIterator[Collector]:
    """A collector over the test database with short timeouts (as tests/collector's fixture)."""
    tuned = {
        "modbus_timeout": 0.4,
        "modbus_retry_attempts": 1,
        "writer_flush_interval": 0.2,
        "collector_enabled": True,
    }
    running = Collector(load_settings(**(settings.model_dump() | tuned)), backoff_cap=1.0)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def flooding_peer() -> AsyncIterator[HostilePeer]:
    peer = HostilePeer("flood")
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


@pytest.fixture
async def wrong_tid_peer() -> AsyncIterator[HostilePeer]:
    peer = HostilePeer("wrong_tid")
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


async def test_flood_resets_the_link_after_a_few_frames_and_backs_off(flooding_peer: HostilePeer) -> None:
    clock = FakeClock()
    hub = Hub("127.0.0.1", flooding_peer.port, timeout=30.0, retries=3, clock=clock)
    try:
        with pytest.raises(BadResponse, match="waiting before reconnecting"):
            await hub.read_holding(1, 0, 1)  # an error at once: not a 30 s timeout, and no retry storm
        assert hub.in_flight == 0
        assert flooding_peer.connections == 1  # the three retries waited for the backoff
        assert hub.stats.resets == 1
        assert hub.stats.frames <= UNSOLICITED_LIMIT  # the rest of the flood was never parsed
        assert flooding_peer.frames_written >= BATCH

        clock.advance(0.5)  # the first backoff step has passed: one new connection, flooded, reset
        with pytest.raises(BadResponse):
            await hub.read_holding(1, 0, 1)
        assert flooding_peer.connections == 2
        clock.advance(0.5)  # the backoff doubled to 1 s: still waiting
        with pytest.raises(BadResponse, match="waiting before reconnecting"):
            await hub.read_holding(1, 0, 1)
        assert flooding_peer.connections == 2
        assert hub.stats.resets == 2
        assert hub.stats.frames <= 2 * UNSOLICITED_LIMIT
    finally:
        await hub.close()


async def test_answers_under_the_wrong_transaction_id_are_no_sign_of_life(
    wrong_tid_peer: HostilePeer,
) -> None:
    hub = Hub("127.0.0.1", wrong_tid_peer.port, timeout=0.3, retries=0)
    try:
        for _ in range(3):
            with pytest.raises(RequestTimeout):
                await hub.read_holding(1, 0, 1)
        assert hub.stats.unsolicited >= 1  # the peer did answer, just never to a request in flight
        assert hub.stats.dead == 1  # three timeouts without a real answer: the link was reset
        with pytest.raises(RequestTimeout):
            await hub.read_holding(1, 0, 1)
        assert wrong_tid_peer.connections == 2
    finally:
        await hub.close()


async def test_flooding_device_turns_error_and_the_flood_costs_few_frames(
    running_collector: Collector, flooding_peer: HostilePeer
) -> None:
    device = await add_device(name="flooder", modbus_port=flooding_peer.port, modbus_slave_id=1)
    async with subscribe(get_bus(), device_ids={device.id}) as events:
        async with asyncio.timeout(15):
            async for event in events:
                if isinstance(event, StatusChange) and event.status != "online":
                    break
    assert event.status == "error"
    assert "no request in flight" in (event.error or "") or "more data than" in (event.error or "")
    await eventually(lambda: flooding_peer.connections >= 2, within=15)  # it kept trying, backing off
    hub = running_collector.pool.get("127.0.0.1", flooding_peer.port)
    assert hub is not None
    # Every connection was reset after at most UNSOLICITED_LIMIT frames (the open one too, at most).
    assert hub.stats.resets >= flooding_peer.connections - 1
    assert hub.stats.frames <= (hub.stats.resets + 1) * UNSOLICITED_LIMIT
    assert flooding_peer.frames_written >= flooding_peer.connections * BATCH

    async def stored_error() -> bool:
        return (await device_row(device.id)).status == "error"

    await eventually(stored_error, within=10)
