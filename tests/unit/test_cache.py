"""ddms.cache.ReadCache: when a value is answered as it is, refreshed behind, or rebuilt first."""

from __future__ import annotations

import asyncio

import pytest

from ddms import cache


class Source:
    """A value that changes when the test says, and counts how often it was read."""

    def __init__(self) -> None:
        self.value = "v1"
        self.reads = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def read(self) -> str:
        """What a query sees: the value when it starts, returned when the gate opens."""
        self.reads += 1
        seen = self.value
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise OSError("database away")
        return seen


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


TABLE = "unit_test_table"
BIND = object()


@pytest.fixture
def parts() -> tuple[cache.ReadCache[str], Source, Clock]:
    clock = Clock()
    return cache.ReadCache(tables=(TABLE,), ttl=1.0, clock=clock), Source(), clock


async def test_within_the_lifetime_the_value_is_answered_as_it_is(
    parts: tuple[cache.ReadCache[str], Source, Clock],
) -> None:
    readcache, source, clock = parts
    assert await readcache.get("k", BIND, source.read) == "v1"
    source.value, clock.now = "v2", clock.now + 0.99
    assert await readcache.get("k", BIND, source.read) == "v1"
    assert source.reads == 1
    assert await readcache.get("k", object(), source.read) == "v2"  # another database: its own value


async def test_a_write_of_this_process_is_read_before_answering(
    parts: tuple[cache.ReadCache[str], Source, Clock],
) -> None:
    readcache, source, _ = parts
    await readcache.get("k", BIND, source.read)
    source.value = "v2"
    cache.bump([TABLE])
    assert await readcache.get("k", BIND, source.read) == "v2"


async def test_past_the_lifetime_one_refresh_runs_behind_the_old_answer(
    parts: tuple[cache.ReadCache[str], Source, Clock],
) -> None:
    readcache, source, clock = parts
    await readcache.get("k", BIND, source.read)
    source.value, clock.now = "v2", clock.now + 1.5
    answers = await asyncio.gather(*(readcache.get("k", BIND, source.read) for _ in range(10)))
    assert answers == ["v1"] * 10
    await readcache.settle()
    assert source.reads == 2
    assert await readcache.get("k", BIND, source.read) == "v2"


async def test_past_two_lifetimes_the_value_is_rebuilt_first_and_errors_show(
    parts: tuple[cache.ReadCache[str], Source, Clock],
) -> None:
    readcache, source, clock = parts
    await readcache.get("k", BIND, source.read)
    source.fail, clock.now = True, clock.now + 1.5
    assert await readcache.get("k", BIND, source.read) == "v1"  # the refresh behind it fails
    await readcache.settle()
    clock.now += 0.6
    with pytest.raises(OSError, match="database away"):
        await readcache.get("k", BIND, source.read)
    source.fail, source.value = False, "v3"
    assert await readcache.get("k", BIND, source.read) == "v3"


async def test_concurrent_misses_read_once(parts: tuple[cache.ReadCache[str], Source, Clock]) -> None:
    readcache, source, _ = parts
    source.gate = asyncio.Event()
    readers = [asyncio.ensure_future(readcache.get("k", BIND, source.read)) for _ in range(10)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*readers) == ["v1"] * 10
    assert source.reads == 1


async def test_a_value_read_while_the_table_changed_is_not_kept(
    parts: tuple[cache.ReadCache[str], Source, Clock],
) -> None:
    """The revision is taken before the read: a write during it makes the next reader read again."""
    readcache, source, _ = parts
    source.gate = asyncio.Event()
    reader = asyncio.ensure_future(readcache.get("k", BIND, source.read))
    await asyncio.sleep(0)
    source.value = "v2"
    cache.bump([TABLE])  # the write commits while the old row is being read
    source.gate.set()
    assert await reader == "v1"  # what that reader saw
    source.gate = None
    assert await readcache.get("k", BIND, source.read) == "v2"
    assert source.reads == 2
