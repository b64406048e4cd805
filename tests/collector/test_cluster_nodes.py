"""Two cluster nodes in one process, each with its own bus and connection, on a fresh PostgreSQL database:
relayed changes and revocations, the leader lock's take-over, fencing when the connection is cut.

(The processes, pollers and Modbus server are in test_cluster_serve.py; these are the seconds-fast
checks of the node itself.)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.engine.url import make_url

from ddms import db, runtime
from ddms.bus import Bus, ChangeKind, DeviceChange, Event, LatestValue, Revocation, StatusChange
from ddms.migrate import upgrade
from ddms.services import cluster
from tests.conftest import create_pg_database, drop_pg_database

HEARTBEAT = 0.2


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float = 10.0) -> float:
    started = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
async def pg_url() -> AsyncIterator[str]:
    """One database for the module: every test's nodes leave ``instances`` empty (clean stops)."""
    url = await create_pg_database()
    try:
        await upgrade(url)
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def nodes(pg_url: str) -> AsyncIterator[tuple[cluster.Node, cluster.Node]]:
    started: list[cluster.Node] = []
    with runtime.installed(runtime.Runtime()):
        try:
            for _ in range(2):
                node = cluster.Node(pg_url, heartbeat=HEARTBEAT, bus=Bus())
                await node.start()
                started.append(node)
            first, second = started
            await eventually(lambda: len(first.live) == 2 and len(second.live) == 2)
            yield first, second
        finally:
            for node in reversed(started):
                await node.stop()


async def test_device_changes_and_revocations_reach_the_other_node_only(
    nodes: tuple[cluster.Node, cluster.Node],
) -> None:
    first, second = nodes
    assert first.bus is not None
    assert second.bus is not None
    seen: list[DeviceChange] = []
    echoed: list[DeviceChange] = []
    revoked: list[Revocation] = []
    second.bus.on_device_change(seen.append)
    first.bus.on_device_change(echoed.append)
    second.bus.on_revocation(revoked.append)
    device, user = uuid.uuid4(), uuid.uuid4()
    first.bus.device_changed(ChangeKind.UPDATED, device)
    first.bus.revoked(Revocation(user_id=user))
    took = await eventually(lambda: bool(seen) and bool(revoked))
    assert took < 1.0  # "within 1 s" (issue 14)
    assert seen == [DeviceChange(ChangeKind.UPDATED, device)]
    assert revoked == [Revocation(user_id=user)]
    assert echoed == [DeviceChange(ChangeKind.UPDATED, device)]  # its own, once: not replayed back


async def test_live_values_polled_on_one_node_reach_the_other_bus(
    nodes: tuple[cluster.Node, cluster.Node],
) -> None:
    first, second = nodes
    assert first.bus is not None
    assert second.bus is not None
    arrived: list[Event] = []
    second.bus.listen(arrived.append)
    device = uuid.uuid4()
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    for n in range(5):  # a burst: only the newest value travels
        first.bus.publish_reading(LatestValue(device, at, float(n), "normal", "online", "p", "bar"))
    await eventually(lambda: second.bus is not None and second.bus.latest(device) is not None, within=2.0)
    latest = second.bus.latest(device)
    assert latest is not None
    assert (latest.value, latest.timestamp, latest.device_name) == (4.0, at, "p")
    assert len(arrived) == 1
    assert first.bus.latest(device) == LatestValue(device, at, 4.0, "normal", "online", "p", "bar")


async def test_one_leader_and_a_take_over_when_it_leaves(nodes: tuple[cluster.Node, cluster.Node]) -> None:
    first, second = nodes
    assert [first.leading, second.leading].count(True) == 1
    leader, other = (first, second) if first.leading else (second, first)
    await leader.stop()
    took = await eventually(lambda: other.leading, within=5.0)
    assert took < 2.0
    await eventually(lambda: other.live == (other.id,))


async def test_a_cut_connection_fences_the_node_before_its_locks_can_be_taken(
    nodes: tuple[cluster.Node, cluster.Node], pg_url: str
) -> None:
    first, second = nodes
    device = uuid.uuid4()
    assert await first.lock_devices([device]) == {device}
    assert await second.lock_devices([device]) == set()  # one holder at a time
    lost: list[float] = []
    first.on_lost(lambda: lost.append(time.monotonic()))
    admin = await asyncpg.connect(make_url(pg_url).set(drivername="postgresql").render_as_string(False))
    try:
        backends = await admin.fetch("SELECT backend_pid FROM instances WHERE id = $1", first.id)
        await admin.execute("SELECT pg_terminate_backend($1)", backends[0]["backend_pid"])
    finally:
        await admin.close()
    await eventually(lambda: bool(lost), within=5.0)
    assert not first.valid()  # it stopped trusting its locks ...
    took = await eventually(lambda: second.lock_devices([device]), within=5.0)  # ... which are free now
    assert took < 2.0
    await eventually(first.valid, within=10.0)  # and it joins again, as the same instance
    await eventually(lambda: len(second.live) == 2, within=5.0)
    assert await first.lock_devices([device]) == set()  # the device stays with its new owner
    assert not first.solo, "it was not alone: it stopped polling instead of polling on"


async def test_the_holder_of_each_device_lock_is_known(
    nodes: tuple[cluster.Node, cluster.Node], pg_url: str
) -> None:
    """What the Settings page lists: which instance polls which device (the holder of its lock)."""
    first, second = nodes
    mine, theirs, nobody = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert await first.lock_devices([mine]) == {mine}
    assert await second.lock_devices([theirs]) == {theirs}
    database = db.Database(pg_url)
    try:
        async with database.sessions() as session:
            holders = await cluster.device_holders(session, [mine, theirs, nobody])
    finally:
        await database.dispose()
    assert holders == {mine: first.id, theirs: second.id}


async def test_the_only_instance_polls_on_through_a_lost_connection_and_locks_again(pg_url: str) -> None:
    """Alone, nobody can take its devices over while the database is away (nothing that starts can
    reach it either), so its pollers go on and the writer spools: nothing is lost."""
    with runtime.installed(runtime.Runtime()):
        node = cluster.Node(pg_url, heartbeat=HEARTBEAT, bus=Bus())
        await node.start()
        try:
            device = uuid.uuid4()
            await eventually(lambda: node.live == (node.id,))
            assert await node.lock_devices([device]) == {device}
            seen: list[tuple[bool, bool]] = []  # (solo, may_poll) the moment the connection went
            node.on_lost(lambda: seen.append((node.solo, node.may_poll())))
            admin = await asyncpg.connect(
                make_url(pg_url).set(drivername="postgresql").render_as_string(False)
            )
            try:
                backends = await admin.fetch("SELECT backend_pid FROM instances WHERE id = $1", node.id)
                await admin.execute("SELECT pg_terminate_backend($1)", backends[0]["backend_pid"])
            finally:
                await admin.close()
            await eventually(lambda: bool(seen), within=5.0)
            assert seen[0] == (True, True), "the only instance polls on"
            await eventually(node.valid, within=10.0)
            assert not node.solo
            assert await node.lock_devices([device]) == {device}, "its device is free to lock again"
        finally:
            await node.stop()


async def test_a_lone_node_keeps_nothing_to_send(pg_url: str) -> None:
    """Nobody listens while it is the only live instance: its readings are not even batched."""
    with runtime.installed(runtime.Runtime()):
        node = cluster.Node(pg_url, heartbeat=HEARTBEAT, bus=Bus())
        await node.start()
        try:
            assert node.bus is not None
            await eventually(lambda: node.live == (node.id,))
            device = uuid.uuid4()
            assert await node.lock_devices([device]) == {device}
            at = datetime(2026, 12, 1, 12, tzinfo=UTC)
            node.bus.publish_reading(LatestValue(device, at, 1.0, "normal", "online", "p", "bar"))
            node.bus.publish_status(StatusChange(device, "offline", "timeout", at, previous="online"))
            assert (node._live_values, node._live_statuses, node._live_timer) == ({}, [], None)
        finally:
            await node.stop()


async def test_a_joining_node_gets_the_newest_values_of_a_lone_one_within_a_second(pg_url: str) -> None:
    """What the lone instance polls reaches one that joins at once, not at the next poll (a device
    polled every hour would stay blank on the newcomer's pages for up to an hour)."""
    started: list[cluster.Node] = []
    with runtime.installed(runtime.Runtime()):
        try:
            first = cluster.Node(pg_url, heartbeat=HEARTBEAT, bus=Bus())
            await first.start()
            started.append(first)
            assert first.bus is not None
            await eventually(lambda: first.live == (first.id,))
            read, failed, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            assert await first.lock_devices([read, failed]) == {read, failed}
            at = datetime(2026, 12, 1, 12, 0, 0, 654321, tzinfo=UTC)
            value = LatestValue(read, at, 2.5, "warning", "online", "p", "bar")
            down = StatusChange(failed, "offline", "timeout: no answer", at, previous="online")
            first.bus.publish_reading(value)
            first.bus.publish_status(down)
            # Relayed from an instance that polled it once: not this one's to send.
            first.bus.publish_reading(LatestValue(elsewhere, at, 9.0, "normal", "online", "q", ""))

            second = cluster.Node(pg_url, heartbeat=HEARTBEAT, bus=Bus())
            await second.start()
            started.append(second)
            bus = second.bus
            assert bus is not None
            took = await eventually(lambda: bus.latest(read) == value and bus.status(failed) == down)
            assert took < 1.0  # "within 1 s" (issue 14)
            assert bus.latest(elsewhere) is None
        finally:
            for node in reversed(started):
                await node.stop()
